// Several envelopes in one link frame: `length | piece | length | piece | ... | zeros`, read until a
// zero length or the end, strictly (no length past the end, nothing but zeros after the last piece).
import { createCipheriv, randomBytes } from "node:crypto";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { BUCKETS, bucketFor } from "../../src/wire/buckets.js";
import { decodeEnvelope, type EnvelopeOf } from "../../src/wire/envelope.js";
import { framedBytes, FrameOpener, FrameSealer, MAX_FRAME_ENVELOPE } from "../../src/wire/frames.js";
import { ClientHandshake, respondToHello } from "../../src/wire/handshake.js";
import { LinkCodec, PACK_LIMIT } from "../../src/wire/link.js";
import { generateStaticKeyPair } from "../../src/wire/x25519.js";

/** A frame around any plaintext, sealed as frame number `counter` of `key` (no rekey). */
function sealPlaintext(key: Uint8Array, counter: number, plaintext: Uint8Array): Uint8Array {
  const nonce = Buffer.alloc(12);
  nonce.writeBigUInt64BE(BigInt(counter), 4);
  const cipher = createCipheriv("aes-256-gcm", key, nonce);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

/** `length | piece` for each piece, then zeros up to a frame of `size`. */
function plaintextOf(pieces: readonly Uint8Array[], size: number): Buffer {
  return Buffer.concat([...pieces.flatMap((p) => [Buffer.from([p.length >> 8, p.length & 0xff]), p]), Buffer.alloc(size)], size - 16);
}

function linkedPair() {
  const relayKey = generateStaticKeyPair();
  const client = new ClientHandshake(relayKey.publicKey);
  const { reply, keys } = respondToHello(client.hello, relayKey);
  const clientKeys = client.finish(reply);
  return { client: new LinkCodec(clientKeys), relay: new LinkCodec(keys), clientSend: clientKeys.send };
}

describe("packed frames: codec", () => {
  it("round trip of 1..N pieces of any sizes, in the smallest bucket that holds them", () => {
    const key = randomBytes(32);
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 3000 }), { minLength: 1, maxLength: 40 }), (pieces) => {
        const size = bucketFor(framedBytes(pieces));
        fc.pre(size !== undefined);
        const frame = sealer.sealPieces(pieces, size as number);
        expect(frame.length).toBe(size);
        expect(opener.open(frame)).toEqual(pieces);
      }),
      { numRuns: 300, seed: 4 },
    );
  });

  it("a piece can end exactly at the frame's end, with no terminator", () => {
    const key = randomBytes(32);
    const pieces = [randomBytes(100), randomBytes(256 - 16 - 2 - 102)];
    expect(framedBytes(pieces)).toBe(256);
    expect(new FrameOpener(key).open(new FrameSealer(key).sealPieces(pieces, 256))).toEqual(pieces.map((p) => new Uint8Array(p)));
  });

  it("a frame whose first length is 0 is cover, whatever its size", () => {
    const key = randomBytes(32);
    const sealer = new FrameSealer(key);
    const opener = new FrameOpener(key);
    for (const size of BUCKETS) expect(opener.open(sealer.sealPieces([], size))).toEqual([]);
  });

  it("refuses a length that runs past the end, and anything but zeros after the last piece", () => {
    const key = randomBytes(32);
    const bad = (plaintext: Buffer) => () => new FrameOpener(key).open(sealPlaintext(key, 0, plaintext));
    const pastEnd = plaintextOf([randomBytes(10)], 256);
    pastEnd.writeUInt16BE(300, 12); // a second piece longer than what is left
    expect(bad(pastEnd)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    const pastEndFirst = plaintextOf([], 256);
    pastEndFirst.writeUInt16BE(239, 0); // one byte more than the 238 a 256-byte frame holds
    expect(bad(pastEndFirst)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    const garbage = plaintextOf([randomBytes(10), randomBytes(20)], 512);
    garbage[12 + 22 + 5] = 1; // after the zero length that ends the list
    expect(bad(garbage)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    const lastByte = plaintextOf([randomBytes(10)], 256);
    lastByte[lastByte.length - 1] = 0x80; // one byte left: too short for a length, and not zero
    expect(bad(lastByte)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    const coverWithGarbage = plaintextOf([], 1024);
    coverWithGarbage[500] = 7;
    expect(bad(coverWithGarbage)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    // The same frames with clean fills open.
    expect(new FrameOpener(key).open(sealPlaintext(key, 0, plaintextOf([new Uint8Array([1, 2])], 256)))).toEqual([new Uint8Array([1, 2])]);
  });

  it("the sealer refuses pieces that do not fit and empty pieces (which would read as the end)", () => {
    const sealer = new FrameSealer(randomBytes(32));
    expect(() => sealer.sealPieces([randomBytes(120), randomBytes(120)], 256)).toThrow(expect.objectContaining({ code: "too_large" }));
    expect(() => sealer.sealPieces([randomBytes(5), new Uint8Array(0)], 256)).toThrow(expect.objectContaining({ code: "bad_frame" }));
    expect(() => sealer.sealPieces([randomBytes(5)], 300)).toThrow(expect.objectContaining({ code: "bad_frame" }));
  });
});

describe("packed frames: link codec", () => {
  const msg = (i: number, bytes: number): EnvelopeOf<"Msg"> => ({ type: "Msg", id: BigInt(i + 1), body: new Uint8Array(randomBytes(bytes)) });

  it("envelopes sent together share frames, each at least 3/4 full, and come out whole and in order", () => {
    const { client, relay } = linkedPair();
    // A 1 KiB message fills a 2048-byte frame alone; 16 of them fill a 32768-byte one. Ten would
    // fill only 62% of one: 8 go in a 16384-byte frame and 2 in a 4096-byte one.
    const sent = Array.from({ length: 10 }, (_, i) => msg(i, 2020));
    const frames = client.sealAll(sent.flatMap((e) => client.pieces(e)));
    expect(frames.map((f) => f.length)).toEqual([16384, 4096]);
    expect(frames.flatMap((f) => relay.read(f))).toEqual(sent);
    const sixteen = Array.from({ length: 16 }, (_, i) => msg(i, 2020));
    const one = client.sealAll(sixteen.flatMap((e) => client.pieces(e)));
    expect(one.map((f) => f.length)).toEqual([32768]);
    expect(relay.read(one[0] as Uint8Array)).toEqual(sixteen);
  });

  it("small envelopes pack together; full fragments go alone; a piece packs with the next while they fit", () => {
    const { client, relay } = linkedPair();
    const sent = [msg(0, 10), msg(1, 10), msg(2, 100_000), msg(3, 10), msg(4, 7000), msg(5, 10)];
    const pieces = sent.flatMap((e) => client.pieces(e));
    const frames = client.sealAll(pieces);
    // [two small] [3 full fragments] [the last fragment with the next small one] [7000 and the last small one]
    expect(frames.map((f) => f.length)).toEqual([256, 32768, 32768, 32768, 2048, 8192]);
    expect(frames.every((f) => (BUCKETS as readonly number[]).includes(f.length))).toBe(true);
    const out = frames.map((f) => relay.readEncoded(f));
    expect(out.map((r) => r.pieces)).toEqual([2, 1, 1, 1, 2, 2]);
    expect(out.flatMap((r) => r.envelopes.map((x) => x.envelope.id))).toEqual(sent.map((e) => e.id));
    expect(out.flatMap((r) => r.envelopes.map((x) => decodeEnvelope(x.bytes)))).toEqual(out.flatMap((r) => r.envelopes.map((x) => x.envelope)));
  });

  it("sealAll keeps order and fills every frame of several pieces at least 3/4 (or uses the smallest bucket)", () => {
    const { client, clientSend } = linkedPair();
    const opener = new FrameOpener(clientSend);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 1, max: MAX_FRAME_ENVELOPE }), { minLength: 1, maxLength: 30 }), (sizes) => {
        const pieces = sizes.map((n, i) => new Uint8Array(n).fill((i + 1) & 0xff));
        const frames = client.sealAll(pieces);
        const opened = frames.map((f) => opener.open(f));
        frames.forEach((f, i) => {
          const inside = opened[i]!;
          expect(f.length).toBeLessThanOrEqual(PACK_LIMIT);
          expect(inside.length === 1 || f.length === BUCKETS[0] || framedBytes(inside) * 4 >= f.length * 3).toBe(true);
        });
        // Each piece is filled with its index + 1: length and fill identify it (cheaper than comparing bytes).
        const identity = (list: readonly Uint8Array[]) => list.map((p) => [p.length, p[0], p.every((b) => b === p[0])]);
        expect(identity(opened.flat())).toEqual(pieces.map((p, i) => [p.length, (i + 1) & 0xff, true]));
      }),
      { numRuns: 200, seed: 7 },
    );
  });

  it("a frame with one bad piece yields no envelope at all", () => {
    const { client, relay, clientSend } = linkedPair();
    const good = client.pieces({ type: "Ping", id: 1n })[0] as Uint8Array;
    const frame = new FrameSealer(clientSend).sealPieces([good, new Uint8Array([9, 9, 9])], 256);
    expect(() => relay.read(frame)).toThrow(expect.objectContaining({ code: "truncated" }));
  });
});
