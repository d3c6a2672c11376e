/** Stable codes for malformed or unacceptable wire input. */
export type WireErrorCode =
  | "bad_version" // envelope version this build does not speak
  | "bad_type" // unknown envelope type
  | "truncated" // a length or field runs past the end
  | "trailing_bytes" // bytes left after the last field
  | "bad_field" // a field out of its allowed range (name, id length, count)
  | "bad_frame" // a link frame that is not a bucket size or fails authentication
  | "too_large" // over a size limit
  | "fragment_error" // fragments out of order, inconsistent or timed out
  | "handshake_failed"; // the relay did not prove it holds the pinned key

/** Raised by every wire decoder for bad input; never carries payload bytes in its message. */
export class WireError extends Error {
  override readonly name = "WireError";
  constructor(
    readonly code: WireErrorCode,
    message: string,
  ) {
    super(message);
  }
}
