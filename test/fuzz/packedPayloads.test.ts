// Property tests over packed application messages (src/mls/packedPayloads.ts): what a member
// sends is read back exactly, and any other plaintext is either one payload or refused with an
// MlsError, never misread. `npm test` runs a quick slice; `npm run soak` runs FUZZ_RUNS=100000.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { MlsError } from "../../src/mls/errors.js";
import { encodePacked, groupForPacking, MAX_PACKED_BYTES, PACKED_MARKER, packedSize, unpackPayloads } from "../../src/mls/packedPayloads.js";

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

const payload = fc.uint8Array({ maxLength: 300 }).filter((p) => p[0] !== PACKED_MARKER);

describe("packed payloads", () => {
  it("two or more payloads come back exactly as packed", () => {
    fc.assert(
      fc.property(fc.array(payload, { minLength: 2, maxLength: 40 }), (payloads) => {
        expect(unpackPayloads(encodePacked(payloads))).toEqual(payloads);
      }),
      { numRuns: RUNS },
    );
  });

  it("any plaintext is one payload, its packed parts (which pack back to it), or an MlsError", () => {
    const packedLike = fc.array(payload, { minLength: 0, maxLength: 6 }).chain((parts) =>
      fc.tuple(fc.constant(encodePacked(parts)), fc.nat({ max: 40 }), fc.integer({ min: 0, max: 255 })).map(([bytes, at, value]) => {
        const mutated = bytes.slice();
        if (at < mutated.length && at > 0) mutated[at] = value;
        return at % 3 === 0 ? mutated.subarray(0, Math.max(1, mutated.length - at)) : mutated;
      }),
    );
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 400 }), packedLike), (plaintext) => {
        let parts: Uint8Array[];
        try {
          parts = unpackPayloads(plaintext);
        } catch (error) {
          expect(error).toBeInstanceOf(MlsError);
          expect(plaintext[0]).toBe(PACKED_MARKER);
          return;
        }
        if (plaintext[0] !== PACKED_MARKER) return void expect(parts).toEqual([plaintext]);
        expect(parts.length).toBeGreaterThanOrEqual(2);
        expect(encodePacked(parts)).toEqual(plaintext);
      }),
      { numRuns: RUNS },
    );
  });

  it("a packed plaintext longer than a sender packs is refused, however well formed", () => {
    const parts = Array.from({ length: 4 }, () => new Uint8Array(MAX_PACKED_BYTES / 4));
    expect(() => unpackPayloads(encodePacked(parts))).toThrow(MlsError);
    expect(unpackPayloads(encodePacked(parts.map((p) => p.subarray(5))))).toHaveLength(4);
  });

  it("grouping keeps the order, packs only packable neighbours, and keeps every packed message within the limit", () => {
    const item = fc.record({ size: fc.oneof(fc.nat({ max: 2000 }), fc.constant(MAX_PACKED_BYTES)), packable: fc.boolean() });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 60 }), fc.boolean(), (specs, packing) => {
        const items = specs.map((s, i) => ({ id: i, plaintext: new Uint8Array(s.size), packable: s.packable }));
        const messages = groupForPacking(items, packing);
        expect(messages.flat().map((m) => m.id)).toEqual(items.map((m) => m.id));
        for (const message of messages) {
          expect(message.length).toBeGreaterThan(0);
          if (message.length === 1) continue;
          expect(packing).toBe(true);
          expect(message.every((m) => m.packable)).toBe(true);
          expect(1 + message.reduce((sum, m) => sum + packedSize(m.plaintext), 0)).toBeLessThanOrEqual(MAX_PACKED_BYTES);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
