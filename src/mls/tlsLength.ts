/**
 * ts-mls's variable-length prefix (RFC 9000-style: 1, 2 or 4 bytes, the top two bits giving the
 * size; ts-mls refuses 2^30 and above), for the hand-made encoders of the state codec.
 */
export function lengthPrefixSize(length: number): number {
  if (length < 64) return 1;
  if (length < 16384) return 2;
  if (length < 0x40000000) return 4;
  throw new RangeError("length too large to encode (max is 2^30 - 1)");
}

/** Writes the prefix of `length` at `offset`; returns the offset after it. */
export function writeLengthPrefix(view: DataView, offset: number, length: number): number {
  const size = lengthPrefixSize(length);
  if (size === 1) view.setUint8(offset, length);
  else if (size === 2) view.setUint16(offset, length | 0x4000);
  else view.setUint32(offset, (length | 0x80000000) >>> 0);
  return offset + size;
}
