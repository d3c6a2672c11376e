import { createPublicKey, verify } from "node:crypto";

/** The DER prefix of an Ed25519 SubjectPublicKeyInfo; the raw 32-byte key follows it. */
export const ED25519_SPKI_PREFIX = Buffer.from("302a300506032b6570032100", "hex");
export const ED25519_KEY_BYTES = 32;
export const ED25519_SIGNATURE_BYTES = 64;

/** Whether `signature` is a valid Ed25519 signature of `message` by the raw public key `key`. */
export function ed25519Valid(key: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  if (key.length !== ED25519_KEY_BYTES || signature.length !== ED25519_SIGNATURE_BYTES) return false;
  try {
    const publicKey = createPublicKey({ key: Buffer.concat([ED25519_SPKI_PREFIX, key]), format: "der", type: "spki" });
    return verify(null, message, publicKey, signature);
  } catch {
    return false; // a key that is not a curve point
  }
}
