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
 */
export function hkdfExpand(prk: Uint8Array, info: Uint8Array, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * SHA256_SIZE) {
    throw new RangeError(`HKDF-Expand length must be 0..${255 * SHA256_SIZE}, got ${length}`);
  }
  const out = new Uint8Array(length);
  let previous: Uint8Array = new Uint8Array(0);
  const counter = new Uint8Array(1);
  for (let offset = 0, i = 1; offset < length; offset += SHA256_SIZE, i++) {
    counter[0] = i;
    previous = createHmac("sha256", prk).update(previous).update(info).update(counter).digest();
    out.set(previous.subarray(0, Math.min(SHA256_SIZE, length - offset)), offset);
  }
  return out;
}
