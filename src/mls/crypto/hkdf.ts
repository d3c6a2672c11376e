import nodeCrypto, { createHash } from "node:crypto";

/** Output size of SHA-256, the only hash of the suites this provider serves. */
export const SHA256_SIZE = 32;
const BLOCK_SIZE = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

/** One-shot SHA-256 where node has crypto.hash (20.12+), a Hash object otherwise. */
const sha256: (data: Uint8Array) => Uint8Array =
  typeof nodeCrypto.hash === "function"
    ? (data) => nodeCrypto.hash("sha256", data, "buffer")
    : (data) => createHash("sha256").update(data).digest();

/** Writes K0 XOR pad (RFC 2104: the key, hashed first if longer than a block, zero-padded) into out[0..64). */
function writePaddedKey(key: Uint8Array, pad: number, out: Uint8Array): void {
  const k = key.length > BLOCK_SIZE ? sha256(key) : key;
  for (let i = 0; i < k.length; i++) out[i] = k[i]! ^ pad;
  out.fill(pad, k.length, BLOCK_SIZE);
}

/**
 * HMAC-SHA256 of `parts` joined (RFC 2104) as two one-shot SHA-256 calls. ts-mls runs some 6,000
 * HKDF-Expands per epoch at 1,000 members (its secret tree) and HPKE several per recipient; node's
 * createHmac makes a native Hmac object for each, and those objects, more than the hashing, cost
 * garbage collection (about 5 ms per commit processed at 1,000 members, measured in bench:groupops).
 */
function hmacSha256(key: Uint8Array, ...parts: Uint8Array[]): Uint8Array {
  let length = BLOCK_SIZE;
  for (const part of parts) length += part.length;
  const inner = new Uint8Array(length);
  writePaddedKey(key, IPAD, inner);
  let offset = BLOCK_SIZE;
  for (const part of parts) {
    inner.set(part, offset);
    offset += part.length;
  }
  const outer = new Uint8Array(BLOCK_SIZE + SHA256_SIZE);
  writePaddedKey(key, OPAD, outer);
  outer.set(sha256(inner), BLOCK_SIZE);
  const mac = sha256(outer);
  // The padded keys are the key in all but name.
  inner.fill(0, 0, BLOCK_SIZE);
  outer.fill(0, 0, BLOCK_SIZE);
  return mac;
}

/** HKDF-Extract (RFC 5869): HMAC keyed by the salt; an empty salt is the same HMAC key as HashLen zeros. */
export function hkdfExtract(salt: Uint8Array, ikm: Uint8Array): Uint8Array {
  return new Uint8Array(hmacSha256(salt, ikm));
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
  const counter = new Uint8Array(1);
  let previous: Uint8Array = new Uint8Array(0);
  for (let offset = 0, i = 1; offset < length; offset += SHA256_SIZE, i++) {
    counter[0] = i;
    // T(i) = HMAC(PRK, T(i-1) || info || i), with T(0) empty.
    previous = hmacSha256(prk, previous, info, counter);
    out.set(previous.subarray(0, Math.min(SHA256_SIZE, length - offset)), offset);
  }
  return out;
}
