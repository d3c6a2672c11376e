/**
 * Copies node's Buffer results into plain Uint8Arrays. ts-mls and its callers compare, re-encode
 * and zero these arrays; a Buffer can be a view into node's shared allocation pool, and strict
 * equality checks (vitest, structuredClone round trips) treat Buffer and Uint8Array as different.
 */
export function toBytes(buf: Uint8Array): Uint8Array {
  return new Uint8Array(buf);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  let length = 0;
  for (const part of parts) length += part.length;
  const out = new Uint8Array(length);
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** Big-endian unsigned integer of `width` bytes (RFC 9180's I2OSP). */
export function i2osp(value: number, width: number): Uint8Array {
  const out = new Uint8Array(width);
  let rest = value;
  for (let i = width - 1; i >= 0; i--) {
    out[i] = rest & 0xff;
    rest = Math.floor(rest / 256);
  }
  return out;
}

export const utf8 = (text: string): Uint8Array => new TextEncoder().encode(text);

/** Byte-wise equality (not constant-time: for public values only). */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
