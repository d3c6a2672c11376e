import { SHA256_SIZE, sha256, sha256Into } from "./sha256.js";

const BLOCK_SIZE = 64;
const IPAD = 0x36;
const OPAD = 0x5c;

/*
 * HMAC inputs are assembled in these buffers, reused by every call (all synchronous, none calls
 * another) and zeroed after each: ts-mls runs some 6,000 HKDF-Expands per epoch at 1,000 members
 * (its secret tree) and HPKE several per recipient, and node's createHmac makes a native Hmac
 * object and a Buffer for each. `inner` grows for long messages.
 */
let inner = new Uint8Array(256);
const outer = new Uint8Array(BLOCK_SIZE + SHA256_SIZE);

/** Writes K0 XOR pad (RFC 2104: the key, hashed first if longer than a block, zero-padded) into out[0..64). */
function writePaddedKey(key: Uint8Array, pad: number, out: Uint8Array): void {
  const k = key.length > BLOCK_SIZE ? sha256(key) : key;
  for (let i = 0; i < k.length; i++) out[i] = k[i]! ^ pad;
  out.fill(pad, k.length, BLOCK_SIZE);
}

/** HMAC-SHA256(key, parts joined) into out[offset..offset+32), as two one-shot SHA-256 calls (RFC 2104). */
function hmacSha256Into(key: Uint8Array, parts: readonly Uint8Array[], out: Uint8Array, offset: number): void {
  let length = BLOCK_SIZE;
  for (const part of parts) length += part.length;
  if (length > inner.length) inner = new Uint8Array(length);
  writePaddedKey(key, IPAD, inner);
  let at = BLOCK_SIZE;
  for (const part of parts) {
    inner.set(part, at);
    at += part.length;
  }
  writePaddedKey(key, OPAD, outer);
  sha256Into(inner.subarray(0, length), outer, BLOCK_SIZE);
  sha256Into(outer, out, offset);
  // The padded keys are the key in all but name, and the message may hold a previous HKDF block.
  inner.fill(0, 0, length);
  outer.fill(0);
}

/** Input given whole or in parts that are joined (HPKE's labeled inputs: no array made to join them). */
export type Bytes = Uint8Array | readonly Uint8Array[];

const partsOf = (input: Bytes): readonly Uint8Array[] => (input instanceof Uint8Array ? [input] : input);

/** HKDF-Extract (RFC 5869): HMAC keyed by the salt; an empty salt is the same HMAC key as HashLen zeros. */
export function hkdfExtract(salt: Uint8Array, ikm: Bytes): Uint8Array {
  const prk = new Uint8Array(SHA256_SIZE);
  hmacSha256Into(salt, partsOf(ikm), prk, 0);
  return prk;
}

/**
 * HKDF-Expand (RFC 5869), by hand because node only offers extract-and-expand in one call
 * (crypto.hkdf), while MLS and HPKE need the two steps separately.
 */
export function hkdfExpand(prk: Uint8Array, info: Bytes, length: number): Uint8Array {
  if (!Number.isInteger(length) || length < 0 || length > 255 * SHA256_SIZE) {
    throw new RangeError(`HKDF-Expand length must be 0..${255 * SHA256_SIZE}, got ${length}`);
  }
  const out = new Uint8Array(length);
  const counter = new Uint8Array(1);
  const block = new Uint8Array(SHA256_SIZE);
  const infoParts = partsOf(info);
  for (let offset = 0, i = 1; offset < length; offset += SHA256_SIZE, i++) {
    counter[0] = i;
    // T(i) = HMAC(PRK, T(i-1) || info || i), with T(0) empty.
    hmacSha256Into(prk, i === 1 ? [...infoParts, counter] : [block, ...infoParts, counter], block, 0);
    out.set(block.subarray(0, Math.min(SHA256_SIZE, length - offset)), offset);
  }
  block.fill(0);
  return out;
}
