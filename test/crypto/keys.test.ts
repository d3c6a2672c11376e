import { createPublicKey, generateKeyPairSync, sign, verify } from "node:crypto";
import { describe, expect, it } from "vitest";
import { exportRawPrivateKey, exportRawPublicKey, importPrivateKey } from "../../src/mls/crypto/keys.js";

describe("private key import through JWK", () => {
  // importPrivateKey passes a placeholder `x`; this pins that node derives the public key from `d`.
  it.each(["X25519", "Ed25519"] as const)("%s: the public key comes from d, not from the placeholder", (curve) => {
    const pair = curve === "X25519" ? generateKeyPairSync("x25519") : generateKeyPairSync("ed25519");
    const imported = importPrivateKey(curve, exportRawPrivateKey(pair.privateKey));
    expect(exportRawPublicKey(createPublicKey(imported))).toEqual(exportRawPublicKey(pair.publicKey));
    if (curve === "Ed25519") {
      const message = Buffer.from("bound to the real public key");
      expect(verify(null, message, pair.publicKey, sign(null, message, imported))).toBe(true);
    }
  });

  it("rejects keys of the wrong length with a CryptoError", () => {
    expect(() => importPrivateKey("X25519", new Uint8Array(31))).toThrow(/32 bytes/);
  });
});
