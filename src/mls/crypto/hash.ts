import { createHmac, timingSafeEqual } from "node:crypto";
import type { Hash } from "ts-mls";
import { toBytes } from "./bytes.js";
import { sha256 } from "./sha256.js";

function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/** SHA-256 and HMAC-SHA256 as ts-mls's Hash (RefHash, transcript hashes, confirmation and membership tags). */
export const sha256Hash: Hash = {
  async digest(data) {
    // One-shot and without a Buffer (./sha256.ts): ts-mls rehashes the whole ratchet tree, one
    // digest per node, several times per commit.
    return sha256(data);
  },
  async mac(key, data) {
    return toBytes(hmacSha256(key, data));
  },
  async verifyMac(key, mac, data) {
    const expected = hmacSha256(key, data);
    // timingSafeEqual throws on a length mismatch; a tag of the wrong length is simply invalid.
    return mac.length === expected.length && timingSafeEqual(mac, expected);
  },
};
