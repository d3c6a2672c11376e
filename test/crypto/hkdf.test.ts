import { createHash, createHmac, hkdfSync } from "node:crypto";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import { hkdfExpand, hkdfExtract } from "../../src/mls/crypto/hkdf.js";
import { sha256 } from "../../src/mls/crypto/sha256.js";

// hkdf.ts assembles HMAC inputs in buffers shared by all calls (grown for long messages, zeroed
// after use): mixed lengths in one run check that no call sees another's bytes.
describe("HKDF and SHA-256 on shared buffers", () => {
  test("extract and expand equal node's HMAC and HKDF for short and long keys and messages, in any order", () => {
    const bytes = (max: number) => fc.uint8Array({ maxLength: max });
    fc.assert(
      fc.property(fc.array(fc.tuple(bytes(200), bytes(700), bytes(1200), fc.integer({ min: 0, max: 300 })), { minLength: 1, maxLength: 6 }), (calls) => {
        for (const [salt, ikm, info, length] of calls) {
          const prk = hkdfExtract(salt, ikm);
          expect(Buffer.from(prk).equals(createHmac("sha256", salt).update(ikm).digest())).toBe(true);
          expect(Buffer.from(hkdfExpand(prk, info, length)).equals(Buffer.from(hkdfSync("sha256", ikm, salt, info, length)))).toBe(true);
        }
      }),
      { numRuns: 100, seed: 7 },
    );
  });

  test("sha256 equals node's hash and returns a fresh array each time", () => {
    const data = new Uint8Array(1000).map((_, i) => i * 7);
    const a = sha256(data);
    const b = sha256(data.subarray(1));
    expect(Buffer.from(a).equals(createHash("sha256").update(data).digest())).toBe(true);
    expect(Buffer.from(b).equals(createHash("sha256").update(data.subarray(1)).digest())).toBe(true);
    expect(a).not.toBe(sha256(data));
  });
});
