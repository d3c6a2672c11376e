import { generateKeyPairSync, sign, verify } from "node:crypto";
import type { Signature } from "ts-mls";
import { toBytes } from "./bytes.js";
import {
  ed25519SigningKey,
  ed25519VerifyKey,
  exportRawPrivateKey,
  exportRawPublicKey,
  rememberEd25519SigningKey,
} from "./keys.js";

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
    const { publicKey, privateKey } = generateKeyPairSync("ed25519");
    const signKey = exportRawPrivateKey(privateKey);
    rememberEd25519SigningKey(signKey, privateKey);
    return { signKey, publicKey: exportRawPublicKey(publicKey) };
  },
};
