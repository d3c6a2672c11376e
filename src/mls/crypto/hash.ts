import nodeCrypto from "node:crypto";
import { createHash, createHmac, timingSafeEqual } from "node:crypto";
import type { Hash } from "ts-mls";
import { toBytes } from "./bytes.js";

function hmacSha256(key: Uint8Array, data: Uint8Array): Buffer {
  return createHmac("sha256", key).update(data).digest();
}

/**
 * One-shot SHA-256 where node has crypto.hash (20.12+): about 40% cheaper per call than a Hash
 * object, which matters because ts-mls rehashes the whole ratchet tree (one digest per node) several
 * times per commit.
 */
const sha256: (data: Uint8Array) => Buffer =
  typeof nodeCrypto.hash === "function"
    ? (data) => nodeCrypto.hash("sha256", data, "buffer")
    : (data) => createHash("sha256").update(data).digest();

/** SHA-256 and HMAC-SHA256 as ts-mls's Hash (RefHash, transcript hashes, confirmation and membership tags). */
export const sha256Hash: Hash = {
  async digest(data) {
    return toBytes(sha256(data));
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
