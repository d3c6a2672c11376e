import { describe, expect, it } from "vitest";
import { didKeyOf, keyOfDidKey, normaliseSafetyCode, safetyCodeOf } from "../../src/mls/didKey.js";

// The did:key specification's Ed25519 example (publicKeyBase58 4zvwRjXUKGfvwnParsHAS3HuSVzV5cA4McphgmoCtajS).
const SPEC_DID = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp";
const SPEC_KEY = "3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29";

describe("did:key and safety codes", () => {
  it("match the did:key specification's Ed25519 example both ways", () => {
    expect(Buffer.from(keyOfDidKey(SPEC_DID)).toString("hex")).toBe(SPEC_KEY);
    expect(didKeyOf(new Uint8Array(Buffer.from(SPEC_KEY, "hex")))).toBe(SPEC_DID);
  });

  it("refuse what is not an Ed25519 did:key", () => {
    for (const bad of ["did:web:example.com", "did:key:z6Mk", `${SPEC_DID}0`, "did:key:zQ3shokFTS3brHcDQrn82RUDfCZESWL1ZdCEJwekUDPQiYBme", `did:key:z${"1".repeat(60)}`]) {
      expect(() => keyOfDidKey(bad), bad).toThrow(expect.objectContaining({ code: "bad_request" }));
    }
  });

  it("a safety code is 20 digits in four groups, the same for the same key, and typed any way it is read", () => {
    const key = new Uint8Array(Buffer.from(SPEC_KEY, "hex"));
    const code = safetyCodeOf(key);
    expect(code).toMatch(/^\d{5} \d{5} \d{5} \d{5}$/);
    expect(safetyCodeOf(key)).toBe(code);
    expect(safetyCodeOf(new Uint8Array(32))).not.toBe(code);
    expect(normaliseSafetyCode(code.replace(/ /g, "-"))).toBe(code);
    expect(normaliseSafetyCode(code.replace(/ /g, ""))).toBe(code);
    expect(normaliseSafetyCode("12345")).toBeUndefined();
  });
});
