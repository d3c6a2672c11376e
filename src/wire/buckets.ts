/**
 * Frame sizes on the wire and the byte budget every layer agrees on.
 *
 * Every link frame is exactly one of BUCKETS. A link frame costs LINK_FRAME_OVERHEAD bytes (a 2-byte
 * masked length and a 16-byte AEAD tag) and carries one envelope (several packed ones cost 2 bytes
 * of length each), whose fixed header costs
 * ENVELOPE_HEADER_BYTES (version, type, 8-byte sequence number). The MLS layer pads its messages so
 * that message + WIRE_OVERHEAD lands exactly on a bucket: then even the relay, which opens the link
 * layer, sees nothing but bucket sizes.
 */
export const BUCKETS = [256, 512, 1024, 2048, 4096, 8192, 16384, 32768] as const;

export const LINK_FRAME_OVERHEAD = 18;
export const ENVELOPE_HEADER_BYTES = 10;
export const WIRE_OVERHEAD = LINK_FRAME_OVERHEAD + ENVELOPE_HEADER_BYTES;

/** Header of each fragment of a body larger than the largest bucket (message index, part, count). */
export const FRAGMENT_HEADER_BYTES = 8;

const LARGEST_BUCKET = BUCKETS[BUCKETS.length - 1] as number;
/** Body bytes one full-size fragment frame carries. */
export const FRAGMENT_PAYLOAD_BYTES = LARGEST_BUCKET - WIRE_OVERHEAD - FRAGMENT_HEADER_BYTES;

/** The smallest bucket that holds `frameBytes`, or undefined when it needs fragmenting. */
export function bucketFor(frameBytes: number): number | undefined {
  return BUCKETS.find((b) => b >= frameBytes);
}

/**
 * The smallest envelope body size, at least `bodyBytes`, that fills frames exactly: a bucket minus
 * the overhead, or, above the largest bucket, an envelope of whole fragment payloads.
 */
export function paddedBodySizeAtLeast(bodyBytes: number): number {
  const bucket = bucketFor(bodyBytes + WIRE_OVERHEAD);
  if (bucket !== undefined) return bucket - WIRE_OVERHEAD;
  const fragments = Math.ceil((bodyBytes + ENVELOPE_HEADER_BYTES) / FRAGMENT_PAYLOAD_BYTES);
  return fragments * FRAGMENT_PAYLOAD_BYTES - ENVELOPE_HEADER_BYTES;
}
