import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUCKETS } from "../../src/wire/buckets.js";
import { decodeEnvelope, encodeEnvelope } from "../../src/wire/envelope.js";
import { WireError } from "../../src/wire/errors.js";
import { fragment, Reassembler } from "../../src/wire/fragments.js";
import { FrameOpener, FrameSealer } from "../../src/wire/frames.js";
import { ClientHandshake, HANDSHAKE_BYTES, respondToHello } from "../../src/wire/handshake.js";
import { LinkCodec } from "../../src/wire/link.js";
import { MAX_AUTH_ENVELOPE_BYTES, MAX_AUTH_TOKEN_BYTES } from "../../src/wire/linkAuth.js";
import { generateStaticKeyPair } from "../../src/wire/x25519.js";

function linkedPair() {
  const relayKey = generateStaticKeyPair();
  const client = new ClientHandshake(relayKey.publicKey);
  const { reply, keys: relayKeys } = respondToHello(client.hello, relayKey);
  return { client: new LinkCodec(client.finish(reply)), relay: new LinkCodec(relayKeys), relayKey };
}

describe("handshake", () => {
  it("agrees on keys, with both messages 256 bytes", () => {
    const relayKey = generateStaticKeyPair();
    const client = new ClientHandshake(relayKey.publicKey);
    const { reply, keys } = respondToHello(client.hello, relayKey);
    expect([client.hello.length, reply.length]).toEqual([HANDSHAKE_BYTES, HANDSHAKE_BYTES]);
    const clientKeys = client.finish(reply);
    expect(clientKeys.send).toEqual(keys.receive);
    expect(clientKeys.receive).toEqual(keys.send);
    expect(clientKeys.send).not.toEqual(clientKeys.receive);
  });

  it("fails loudly when the relay does not hold the pinned key", () => {
    const pinned = generateStaticKeyPair();
    const impostor = generateStaticKeyPair();
    const client = new ClientHandshake(pinned.publicKey);
    const { reply } = respondToHello(client.hello, impostor);
    expect(() => client.finish(reply)).toThrow(expect.objectContaining({ code: "handshake_failed" }));
  });

  it("puts a random bit where X25519 ignores one", () => {
    const relayKey = generateStaticKeyPair();
    const tops = new Set(Array.from({ length: 64 }, () => new ClientHandshake(relayKey.publicKey).hello[31]! >> 7));
    expect(tops).toEqual(new Set([0, 1]));
  });

  it("refuses a low-order key", () => {
    const relayKey = generateStaticKeyPair();
    expect(() => respondToHello(new Uint8Array(HANDSHAKE_BYTES), relayKey)).toThrow(WireError);
  });
});

describe("frames", () => {
  const key = randomBytes(32);

  it("every frame is a bucket size; cover frames open to nothing", () => {
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    for (const size of BUCKETS) {
      const envelope = randomBytes(size - 18);
      const frame = sealer.seal(envelope, size);
      expect(frame.length).toBe(size);
      expect(opener.open(frame)).toEqual([new Uint8Array(envelope)]);
      expect(opener.open(sealer.seal(undefined, size))).toEqual([]);
    }
  });

  it("refuses tampered, reordered and odd-sized frames", () => {
    const sealer = new FrameSealer(key);
    const f1 = sealer.seal(new Uint8Array([1]), 256);
    const f2 = sealer.seal(new Uint8Array([2]), 256);
    expect(() => new FrameOpener(key).open(f2)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    const tampered = f1.slice();
    tampered[3]! ^= 1;
    expect(() => new FrameOpener(key).open(tampered)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => new FrameOpener(key).open(f1.subarray(0, 255))).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => sealer.seal(new Uint8Array(239), 256)).toThrow(expect.objectContaining({ code: "too_large" }));
  });

  it("rekeys on both sides at the same frame", () => {
    const sealer = new FrameSealer(key, 4);
    const opener = new FrameOpener(key, 4);
    const plain = new FrameOpener(key); // never rekeys: must fail from frame 4 on
    for (let i = 0; i < 10; i++) {
      const frame = sealer.seal(new Uint8Array([i + 1]), 256);
      expect(opener.open(frame)).toEqual([new Uint8Array([i + 1])]);
      if (i < 4) expect(plain.open(frame)).toEqual([new Uint8Array([i + 1])]);
      else if (i === 4) expect(() => plain.open(frame)).toThrow(WireError);
    }
  });
});

describe("link codec", () => {
  it("carries a 100 KB message fragmented into full frames and reassembles it intact", () => {
    const { client, relay } = linkedPair();
    const body = randomBytes(100_000);
    const pieces = client.pieces({ type: "Msg", id: 9n, body });
    expect(pieces.length).toBe(4);
    const frames = pieces.map((p) => client.seal(p));
    expect(frames.slice(0, -1).every((f) => f.length === 32768)).toBe(true);
    const out = frames.map((f) => relay.read(f));
    expect(out.slice(0, -1)).toEqual([[], [], []]);
    expect(out.at(-1)).toEqual([{ type: "Msg", id: 9n, body: new Uint8Array(body) }]);
  });

  it("interleaved cover frames do not disturb reassembly", () => {
    const { client, relay } = linkedPair();
    const body = randomBytes(70_000);
    let result;
    for (const p of client.pieces({ type: "Msg", id: 1n, body })) {
      expect(relay.read(client.sealCover(512))).toEqual([]);
      result = relay.read(client.seal(p));
    }
    expect(result).toEqual([{ type: "Msg", id: 1n, body: new Uint8Array(body) }]);
  });

  it("refuses out-of-order, foreign and stale fragments", () => {
    const envelope = encodeEnvelope({ type: "Msg", id: 1n, body: randomBytes(80_000) });
    const parts = fragment(envelope, 7).map((p) => {
      const e = decodeEnvelope(p);
      if (e.type !== "Fragment") throw new Error();
      return e;
    });
    let now = 0;
    const r = new Reassembler(1000, () => now);
    expect(() => r.push(parts[1]!)).toThrow(expect.objectContaining({ code: "fragment_error" }));
    r.push(parts[0]!);
    expect(() => r.push({ ...parts[1]!, message: 8 })).toThrow(expect.objectContaining({ code: "fragment_error" }));
    r.push(parts[0]!);
    now = 5000;
    expect(() => r.push(parts[1]!)).toThrow(expect.objectContaining({ code: "fragment_error" }));
  });

  it("limited to one Auth (before a relay's link authenticates): the largest Auth passes, fragments and longer pieces do not, and nothing is held", () => {
    const largest = encodeEnvelope({ type: "Auth", id: 1n, agent: "a".repeat(64), key: new Uint8Array(32).fill(1), signature: new Uint8Array(64), token: "t".repeat(MAX_AUTH_TOKEN_BYTES) });
    expect(largest.length).toBe(MAX_AUTH_ENVELOPE_BYTES);
    const { client, relay } = linkedPair();
    relay.limitIncoming(MAX_AUTH_ENVELOPE_BYTES);
    expect(relay.read(client.seal(largest))).toMatchObject([{ type: "Auth", agent: "a".repeat(64) }]);
    const start = encodeEnvelope({ type: "Fragment", id: 0n, message: 1, part: 0, count: 40, chunk: randomBytes(1_000) });
    expect(() => relay.read(client.seal(start))).toThrow(expect.objectContaining({ code: "fragment_error" }));
    expect(relay.bufferedBytes).toBe(0);
    const long = encodeEnvelope({ type: "Msg", id: 3n, body: randomBytes(MAX_AUTH_ENVELOPE_BYTES) });
    expect(() => relay.read(client.seal(long))).toThrow(expect.objectContaining({ code: "too_large" }));
    relay.limitIncoming(undefined);
    expect(relay.read(client.seal(long))).toMatchObject([{ type: "Msg", id: 3n }]);
  });

  it("random frames only ever give a WireError", () => {
    const { relay } = linkedPair();
    fc.assert(
      fc.property(fc.constantFrom(...BUCKETS, 100, 300), (size) => {
        expect(() => relay.read(randomBytes(size))).toThrow(WireError);
      }),
      { numRuns: 200 },
    );
  });
});
