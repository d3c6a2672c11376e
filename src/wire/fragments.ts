import { ENVELOPE_HEADER_BYTES, FRAGMENT_HEADER_BYTES } from "./buckets.js";
import { decodeEnvelope, encodeEnvelope, MAX_ENVELOPE_BYTES, type Envelope } from "./envelope.js";
import { WireError } from "./errors.js";
import { MAX_FRAME_ENVELOPE } from "./frames.js";

/** Bytes of the original envelope carried by one full fragment. */
export const FRAGMENT_CHUNK_BYTES = MAX_FRAME_ENVELOPE - ENVELOPE_HEADER_BYTES - FRAGMENT_HEADER_BYTES;
const MAX_FRAGMENTS = Math.ceil(MAX_ENVELOPE_BYTES / FRAGMENT_CHUNK_BYTES);

/** Splits an encoded envelope that does not fit one frame into Fragment envelopes (encoded). */
export function fragment(envelope: Uint8Array, message: number): Uint8Array[] {
  const count = Math.ceil(envelope.length / FRAGMENT_CHUNK_BYTES);
  return Array.from({ length: count }, (_, part) =>
    encodeEnvelope({
      type: "Fragment",
      id: 0n,
      message,
      part,
      count,
      chunk: envelope.subarray(part * FRAGMENT_CHUNK_BYTES, (part + 1) * FRAGMENT_CHUNK_BYTES),
    }),
  );
}

/**
 * Puts fragments back together. A sender never interleaves two fragmented messages on one link,
 * so one partial message at a time is enough; it is bounded in size and age.
 */
export class Reassembler {
  private partial: { message: number; count: number; chunks: Uint8Array[]; bytes: number; startedAt: number } | undefined;

  constructor(
    private readonly timeoutMs: number,
    private readonly now: () => number,
  ) {}

  /** Bytes of the partial message held until its last fragment arrives. */
  get buffered(): number {
    return this.partial?.bytes ?? 0;
  }

  /** The whole envelope once its last fragment arrives, otherwise undefined. */
  push(f: Extract<Envelope, { type: "Fragment" }>): Envelope | undefined {
    return this.pushEncoded(f)?.envelope;
  }

  /** Like push(), with the whole envelope's encoded bytes too. */
  pushEncoded(f: Extract<Envelope, { type: "Fragment" }>): { envelope: Envelope; bytes: Uint8Array } | undefined {
    if (f.count > MAX_FRAGMENTS) throw new WireError("too_large", "fragmented message over 1 MiB");
    const p = this.partial;
    if (p !== undefined && this.now() - p.startedAt > this.timeoutMs) {
      this.partial = undefined;
      throw new WireError("fragment_error", "fragmented message timed out");
    }
    if (f.part === 0) {
      if (p !== undefined) throw new WireError("fragment_error", "new fragmented message before the last one ended");
      this.partial = { message: f.message, count: f.count, chunks: [f.chunk], bytes: f.chunk.length, startedAt: this.now() };
      return undefined;
    }
    if (p === undefined || f.message !== p.message || f.count !== p.count || f.part !== p.chunks.length) {
      this.partial = undefined;
      throw new WireError("fragment_error", "fragment out of order");
    }
    p.chunks.push(f.chunk);
    p.bytes += f.chunk.length;
    if (p.bytes > MAX_ENVELOPE_BYTES) {
      this.partial = undefined;
      throw new WireError("too_large", "fragmented message over 1 MiB");
    }
    if (p.chunks.length < p.count) return undefined;
    this.partial = undefined;
    const whole = new Uint8Array(p.bytes);
    let at = 0;
    for (const c of p.chunks) {
      whole.set(c, at);
      at += c.length;
    }
    const envelope = decodeEnvelope(whole);
    if (envelope.type === "Fragment") throw new WireError("fragment_error", "nested fragment");
    return { envelope, bytes: whole };
  }
}
