import { bucketFor, LINK_FRAME_OVERHEAD } from "./buckets.js";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "./envelope.js";
import { fragment, Reassembler } from "./fragments.js";
import { framedBytes, FrameOpener, FrameSealer, MAX_FRAME_ENVELOPE, PIECE_OVERHEAD } from "./frames.js";
import type { LinkKeys } from "./handshake.js";

/** Reassembly of a fragmented message must finish within this long. */
export const REASSEMBLY_TIMEOUT_MS = 30_000;

/**
 * Pieces sent together share frames up to this size (a piece larger than it still goes, alone).
 * Past about 8 KiB the per-frame costs that packing saves (one cipher, one WebSocket frame, one
 * buffer) are small next to the per-byte AES work, while a larger frame rounds up to a larger
 * bucket (more padding) and holds the first piece until the last is encrypted; see
 * docs/architecture.md for the measurements.
 */
export const PACK_LIMIT = 8192;

/** Whether `pieces` go in one frame when sent together: one piece always does. */
export function fitsOneFrame(pieces: readonly Uint8Array[]): boolean {
  return pieces.length <= 1 || framedBytes(pieces) <= PACK_LIMIT;
}

/** An envelope read from a frame, with its encoded bytes. */
export interface ReadEnvelope {
  envelope: Envelope;
  /** A view into the frame's own plaintext (or the reassembled message); the caller may keep and change it. */
  bytes: Uint8Array;
}

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

  /**
   * Seals pieces sent together, in order, consecutive ones sharing a frame while it stays within
   * PACK_LIMIT; each frame is the smallest bucket that holds its pieces.
   */
  sealAll(pieces: readonly Uint8Array[]): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (let start = 0; start < pieces.length; ) {
      let bytes = framedBytes([pieces[start] as Uint8Array]);
      let end = start + 1;
      for (let next = pieces[end]; next !== undefined && bytes + PIECE_OVERHEAD + next.length <= PACK_LIMIT; next = pieces[++end]) {
        bytes += PIECE_OVERHEAD + next.length;
      }
      frames.push(this.sealer.sealPieces(pieces.slice(start, end), bucketFor(bytes) as number));
      start = end;
    }
    return frames;
  }

  /** A cover frame of `size` bytes (a bucket size). */
  sealCover(size: number): Uint8Array {
    return this.sealer.seal(undefined, size);
  }

  /** The envelopes a frame completes, in order: none for cover frames and non-final fragments. */
  read(frame: Uint8Array): Envelope[] {
    return this.readEncoded(frame).envelopes.map((r) => r.envelope);
  }

  /**
   * Like read(), with each envelope's encoded bytes too, and how many pieces the frame carried
   * (0: a cover frame). Every piece is decoded before any envelope is returned, so a frame with
   * one bad piece yields none.
   */
  readEncoded(frame: Uint8Array): { pieces: number; envelopes: ReadEnvelope[] } {
    const pieces = this.opener.open(frame);
    const envelopes: ReadEnvelope[] = [];
    for (const piece of pieces) {
      const envelope = decodeEnvelope(piece);
      const whole = envelope.type === "Fragment" ? this.reassembler.pushEncoded(envelope) : { envelope, bytes: piece };
      if (whole !== undefined) envelopes.push(whole);
    }
    return { pieces: pieces.length, envelopes };
  }
}
