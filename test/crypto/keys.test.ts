import { sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { freshKey, importPrivateKey, importPublicKey, rawPublicKeyOf } from "../../src/mls/crypto/keys.js";

/** Known key pairs: RFC 7748 section 6.1 (Alice) and RFC 8032 section 7.1 (test 1). */
const VECTORS = {
  X25519: {
    privateKey: "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a",
    publicKey: "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a",
  },
  Ed25519: {
    privateKey: "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60",
    publicKey: "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
  },
} as const;

const hex = (s: string) => new Uint8Array(Buffer.from(s, "hex"));

describe("private key import through JWK", () => {
  // importPrivateKey passes a placeholder `x`; this pins that node derives the public key from `d`.
  it.each(["X25519", "Ed25519"] as const)("%s: the public key comes from d, not from the placeholder", (curve) => {
    const vector = VECTORS[curve];
    const imported = importPrivateKey(curve, hex(vector.privateKey));
    expect(Buffer.from(rawPublicKeyOf(imported)).toString("hex")).toBe(vector.publicKey);
    if (curve === "Ed25519") {
      const message = Buffer.from("bound to the real public key");
      expect(verify(null, message, importPublicKey(curve, hex(vector.publicKey)), sign(null, message, imported))).toBe(true);
    }
  });

  it.each(["X25519", "Ed25519"] as const)("%s: fresh keys are distinct and their public halves match", (curve) => {
    const a = freshKey(curve);
    const b = freshKey(curve);
    expect(a.privateRaw).not.toEqual(b.privateRaw);
    expect(rawPublicKeyOf(importPrivateKey(curve, a.privateRaw))).toEqual(a.publicRaw);
    expect(a.publicRaw).toHaveLength(32);
  });

  it("rejects keys of the wrong length with a CryptoError", () => {
    expect(() => importPrivateKey("X25519", new Uint8Array(31))).toThrow(/32 bytes/);
  });
});
