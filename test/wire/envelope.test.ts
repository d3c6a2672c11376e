import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { decodeEnvelope, encodeEnvelope, MAX_ACKS, RELAY_THROUGH_TYPES, setEnvelopeId, type Envelope } from "../../src/wire/envelope.js";
import { WireError } from "../../src/wire/errors.js";

const id = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n });
const bytes = (max = 300) => fc.uint8Array({ maxLength: max });
const channel = fc.uint8Array({ minLength: 1, maxLength: 64 });
const agent = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9._@-]{0,20}$/);
const key = fc.uint8Array({ minLength: 32, maxLength: 32 });
const signature = fc.uint8Array({ minLength: 64, maxLength: 64 });
const target = fc.oneof(
  channel.map((c) => ({ kind: "channel" as const, channel: c })),
  key.map((k) => ({ kind: "agent" as const, key: k })),
);

const envelope: fc.Arbitrary<Envelope> = fc.oneof(
  fc.record({ type: fc.constant("Auth" as const), id, agent, key, signature, token: fc.string({ maxLength: 100 }) }),
  fc.record({ type: fc.constant("AuthOk" as const), id, agent, key }),
  fc.record({ type: fc.constant("Error" as const), id, code: fc.string({ maxLength: 30 }), message: fc.string({ maxLength: 100 }) }),
  fc.record({ type: fc.constant("Ack" as const), id, seq: id }),
  fc.record({
    type: fc.constant("Acks" as const),
    id: fc.constant(0n),
    acks: fc.uniqueArray(fc.record({ id: fc.bigInt({ min: 1n, max: 2n ** 64n - 1n }), seq: id }), { minLength: 1, maxLength: MAX_ACKS, selector: (a) => a.id }),
  }),
  fc.record({ type: fc.constantFrom("Ping" as const, "Pong" as const), id }),
  fc.record({ type: fc.constantFrom("Msg" as const, "GroupProposal" as const), id, body: bytes() }),
  fc.record({
    type: fc.constant("GroupCommit" as const),
    id,
    commit: bytes(),
    welcome: fc.option(fc.record({ recipients: fc.array(key, { minLength: 1, maxLength: 5 }), welcome: bytes() }), { nil: undefined }),
  }),
  fc.record({ type: fc.constant("GroupAck" as const), id, channel, epoch: id, seq: id }),
  fc.record({ type: fc.constant("GroupNack" as const), id, channel, epoch: id, winningSeq: id }),
  fc.record({ type: fc.constant("GroupWelcome" as const), id, channel, commitSeq: id, welcome: bytes() }),
  fc.record({ type: fc.constant("Subscribe" as const), id, channel, fromSeq: id }),
  fc.record({ type: fc.constant("Unsubscribe" as const), id, channel }),
  fc.record({ type: fc.constant("InboxSubscribe" as const), id, fromSeq: id }),
  fc.record({ type: fc.constant("InboxAck" as const), id, upToSeq: id }),
  fc.record({ type: fc.constant("ChannelOpen" as const), id, channel, nonce: fc.uint8Array({ minLength: 16, maxLength: 16 }), commitKey: key, signature }),
  fc.record({ type: fc.constant("KeyPackagePublish" as const), id, lastResort: fc.boolean(), keyPackage: bytes() }),
  fc.record({ type: fc.constant("KeyPackageFetch" as const), id, key }),
  fc.record({ type: fc.constant("KeyPackageReply" as const), id, key, keyPackage: fc.option(bytes(), { nil: undefined }) }),
  fc.record({ type: fc.constant("NameLookup" as const), id, agent }),
  fc.record({ type: fc.constant("NameReply" as const), id, agent, key: fc.option(key, { nil: undefined }) }),
  fc.record({ type: fc.constantFrom(...RELAY_THROUGH_TYPES), id, target, from: fc.oneof(fc.constant(new Uint8Array(0)), key), payload: bytes() }),
  fc.record({
    type: fc.constant("Fragment" as const),
    id,
    message: fc.nat({ max: 2 ** 32 - 1 }),
    count: fc.integer({ min: 2, max: 40 }),
    part: fc.nat({ max: 1 }),
    chunk: bytes(),
  }),
);

describe("envelope codec", () => {
  it("round-trips every type", () => {
    fc.assert(
      fc.property(envelope, (e) => {
        expect(decodeEnvelope(encodeEnvelope(e))).toEqual(e);
      }),
      { numRuns: 3000 },
    );
  });

  it("a Msg costs exactly the 10-byte header around its MLS body", () => {
    expect(encodeEnvelope({ type: "Msg", id: 5n, body: new Uint8Array(200) }).length).toBe(210);
  });

  it.each([
    ["an unknown version", [2, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0], "bad_version"],
    ["an unknown type", [1, 0x09, 0, 0, 0, 0, 0, 0, 0, 1], "bad_type"],
    ["a short header", [1, 0x04, 0], "truncated"],
    ["a truncated field", [1, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0], "truncated"],
    ["trailing bytes", [1, 0x04, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 9], "trailing_bytes"],
    ["a bad agent id", [1, 0x31, 0, 0, 0, 0, 0, 0, 0, 1, 1, 0x2f], "bad_field"],
    ["an empty channel id", [1, 0x21, 0, 0, 0, 0, 0, 0, 0, 1, 0], "bad_field"],
  ])("refuses %s", (_what, input, code) => {
    expect(() => decodeEnvelope(new Uint8Array(input))).toThrow(expect.objectContaining({ code }));
  });

  describe("Acks", () => {
    /** An Acks envelope's bytes: header with `id`, then the count and the pairs as given. */
    const acksBytes = (count: number, pairs: [bigint, bigint][], id = 0n) => {
      const b = Buffer.alloc(11 + 16 * pairs.length);
      b[0] = 1;
      b[1] = 0x07;
      b.writeBigUInt64BE(id, 2);
      b[10] = count;
      pairs.forEach(([i, s], k) => (b.writeBigUInt64BE(i, 11 + 16 * k), b.writeBigUInt64BE(s, 19 + 16 * k)));
      return new Uint8Array(b);
    };
    const pairs = (n: number): [bigint, bigint][] => Array.from({ length: n }, (_, k) => [BigInt(k + 1), BigInt(k + 100)]);

    it("lists up to MAX_ACKS pairs and still fits the smallest frame", () => {
      expect(MAX_ACKS).toBe(14);
      const e: Envelope = { type: "Acks", id: 0n, acks: pairs(MAX_ACKS).map(([i, s]) => ({ id: i, seq: s })) };
      const bytes = encodeEnvelope(e);
      expect(bytes.length + 18).toBeLessThanOrEqual(256);
      expect(decodeEnvelope(bytes)).toEqual(e);
      expect(decodeEnvelope(acksBytes(2, pairs(2)))).toEqual({ type: "Acks", id: 0n, acks: [{ id: 1n, seq: 100n }, { id: 2n, seq: 101n }] });
    });

    it.each([
      ["an empty list", acksBytes(0, []), "bad_field"],
      ["a list over MAX_ACKS", acksBytes(MAX_ACKS + 1, pairs(MAX_ACKS + 1)), "bad_field"],
      ["a non-zero envelope id", acksBytes(1, pairs(1), 5n), "bad_field"],
      ["request id 0", acksBytes(2, [[0n, 1n], [2n, 2n]]), "bad_field"],
      ["a request listed twice", acksBytes(2, [[3n, 1n], [3n, 2n]]), "bad_field"],
      ["a count above the pairs given", acksBytes(3, pairs(2)), "truncated"],
      ["a count below the pairs given", acksBytes(1, pairs(2)), "trailing_bytes"],
      ["a pair cut short", acksBytes(2, pairs(2)).subarray(0, 11 + 16 + 9), "truncated"],
    ])("refuses %s", (_what, input, code) => {
      expect(() => decodeEnvelope(input)).toThrow(expect.objectContaining({ code }));
    });

    it("is not encoded when it would be refused", () => {
      expect(() => encodeEnvelope({ type: "Acks", id: 0n, acks: [] })).toThrow(WireError);
      expect(() => encodeEnvelope({ type: "Acks", id: 0n, acks: [{ id: 1n, seq: 1n }, { id: 1n, seq: 2n }] })).toThrow(WireError);
    });
  });

  it("setEnvelopeId relabels an encoded envelope in place", () => {
    const bytes = encodeEnvelope({ type: "Msg", id: 7n, body: new Uint8Array([1, 2, 3]) });
    expect(setEnvelopeId(bytes, 42n)).toBe(bytes);
    expect(decodeEnvelope(bytes)).toEqual({ type: "Msg", id: 42n, body: new Uint8Array([1, 2, 3]) });
    expect(() => setEnvelopeId(new Uint8Array(9), 1n)).toThrow(WireError);
  });

  it("random bytes only ever give a WireError", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (input) => {
        try {
          decodeEnvelope(input);
        } catch (e) {
          if (!(e instanceof WireError)) throw e;
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 20000) },
    );
  });
});
