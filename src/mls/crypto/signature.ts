import { sign, verify } from "node:crypto";
import type { Signature } from "ts-mls";
import { toBytes } from "./bytes.js";
import { ed25519SigningKey, ed25519VerifyKey, freshKey, rememberEd25519SigningKey } from "./keys.js";

const ED25519_SIGNATURE_LENGTH = 64;

/** Ed25519 (pure, no prehash: node's `null` digest) as ts-mls's Signature. */
export const ed25519Signature: Signature = {
  async sign(signKey, message) {
    return toBytes(sign(null, message, ed25519SigningKey(signKey)));
  },
  async verify(publicKey, message, signature) {
    // Malformed input is an invalid signature, not an exception: the signer chose those bytes.
    if (signature.length !== ED25519_SIGNATURE_LENGTH) return false;
    try {
      return verify(null, message, ed25519VerifyKey(publicKey), signature);
    } catch {
      return false;
    }
  },
  async keygen() {
    const { key, privateRaw, publicRaw } = freshKey("Ed25519");
    rememberEd25519SigningKey(privateRaw, key);
    return { signKey: privateRaw, publicKey: publicRaw };
  },
};
