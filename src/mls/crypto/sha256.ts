import nodeCrypto, { createHash } from "node:crypto";

/** Output size of SHA-256, the only hash of the suites this provider serves. */
export const SHA256_SIZE = 32;

/*
 * Why a "binary" (latin1) string: a digest as a Buffer is a new ArrayBuffer with memory outside the V8 heap,
 * which the garbage collector tracks and frees one by one. ts-mls asks for some 12,000 digests
 * per commit at 1,000 members (HMACs for its secret tree, tree hashes); as Buffers they cost
 * 10–20 ms of CPU per commit, measured in bench:groupops. A 32-character string lives on the heap
 * and its bytes are copied out directly.
 */
const digestString: ((data: Uint8Array) => string) | undefined =
  typeof nodeCrypto.hash === "function" ? (data) => nodeCrypto.hash("sha256", data, "binary") : undefined;

/** Writes SHA-256(data) into out[offset..offset+32). */
export function sha256Into(data: Uint8Array, out: Uint8Array, offset: number): void {
  if (digestString === undefined) {
    out.set(createHash("sha256").update(data).digest(), offset); // node before 20.12: no one-shot hash
    return;
  }
  const digest = digestString(data);
  for (let i = 0; i < SHA256_SIZE; i++) out[offset + i] = digest.charCodeAt(i);
}

/** SHA-256(data) as a new 32-byte array. */
export function sha256(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(SHA256_SIZE);
  sha256Into(data, out, 0);
  return out;
}
