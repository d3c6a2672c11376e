import { createHmac } from "node:crypto";
import { toBytes } from "./bytes.js";

/** Output size of SHA-256, the only hash of the suites this provider serves. */
export const SHA256_SIZE = 32;

/** HKDF-Extract (RFC 5869): HMAC keyed by the salt; an empty salt is the same HMAC key as HashLen zeros. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return toBytes(createHmac("sha256", salt).update(ikm).digest());
}

/**
 * HKDF-Expand (RFC 5869), by hand because node only offers extract-and-expand in one call
 * (crypto.hkdf), while MLS and HPKE need the two steps separately.
 *
 * Nearly every call asks for one block (ts-mls derives some 6,000 secret-tree nodes per epoch at
 * 1,000 members, HPKE a few per recipient): T(1) = HMAC(PRK, info || 0x01), with info and
 * counter joined here so that the HMAC gets a single update (each update is a call into C++).
 */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * SHA256_SIZE) {
    throw new RangeError(`HKDF-Expand length must be 0..${255 * SHA256_SIZE}, got ${length}`);
  }
  const out = new Uint8Array(length);
  const message = new Uint8Array(SHA256_SIZE + info.length + 1);
  message.set(info, SHA256_SIZE);
  for (let offset = 0, i = 1; offset < length; offset += SHA256_SIZE, i++) {
    message[message.length - 1] = i;
    // T(i) = HMAC(PRK, T(i-1) || info || i), with T(0) empty.
    const block = createHmac("sha256", prk).update(i === 1 ? message.subarray(SHA256_SIZE) : message).digest();
    out.set(block.subarray(0, Math.min(SHA256_SIZE, length - offset)), offset);
    message.set(block);
  }
  return out;
}
