import { bucketFor, LINK_FRAME_OVERHEAD } from "./buckets.js";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "./envelope.js";
import { fragment, Reassembler } from "./fragments.js";
import { FrameOpener, FrameSealer, MAX_FRAME_ENVELOPE } from "./frames.js";
import type { LinkKeys } from "./handshake.js";

/** Reassembly of a fragmented message must finish within this long. */
export const REASSEMBLY_TIMEOUT_MS = 30_000;

/**
 * Both directions of one established link: envelopes in, bucket-sized frames out, and back.
 * Encoding is split from sealing because cover traffic may decide when a piece goes out, and
 * frames must be sealed in the order they are sent.
 */
export class LinkCodec {
  private readonly sealer: FrameSealer;
  private readonly opener: FrameOpener;
  private readonly reassembler: Reassembler;
  private nextMessage = 0;

  constructor(keys: LinkKeys, now: () => number = Date.now) {
    this.sealer = new FrameSealer(keys.send);
    this.opener = new FrameOpener(keys.receive);
    this.reassembler = new Reassembler(REASSEMBLY_TIMEOUT_MS, now);
  }

  /** The encoded envelope pieces to send, one per frame (fragments when it is too large). */
  pieces(envelope: Envelope): Uint8Array[] {
    return this.piecesOf(encodeEnvelope(envelope));
  }

  /** Like pieces(), for an envelope already encoded (a relay encodes a fan-out frame once). */
  piecesOf(bytes: Uint8Array): Uint8Array[] {
    if (bytes.length <= MAX_FRAME_ENVELOPE) return [bytes];
    const message = this.nextMessage;
    this.nextMessage = (this.nextMessage + 1) >>> 0;
    return fragment(bytes, message);
  }

  /** Seals one piece into the smallest bucket that holds it. */
  seal(piece: Uint8Array): Uint8Array {
    return this.sealer.seal(piece, bucketFor(piece.length + LINK_FRAME_OVERHEAD) as number);
  }

  /** A cover frame of `size` bytes (a bucket size). */
  sealCover(size: number): Uint8Array {
    return this.sealer.seal(undefined, size);
  }

  /** The envelope a frame completes; undefined for cover frames and non-final fragments. */
  read(frame: Uint8Array): Envelope | undefined {
    return this.readEncoded(frame)?.envelope;
  }

  /**
   * Like read(), with the envelope's encoded bytes too: a view into this frame's own plaintext (or
   * the reassembled message), which the caller may keep and change.
   */
  readEncoded(frame: Uint8Array): { envelope: Envelope; bytes: Uint8Array } | undefined {
    const piece = this.opener.open(frame);
    if (piece === undefined) return undefined;
    const envelope = decodeEnvelope(piece);
    return envelope.type === "Fragment" ? this.reassembler.pushEncoded(envelope) : { envelope, bytes: piece };
  }
}
