import { BUCKETS, bucketFor, LINK_FRAME_OVERHEAD } from "./buckets.js";
import { CellReader } from "./cells.js";
import { decodeEnvelope, encodeEnvelope, type Envelope } from "./envelope.js";
import { WireError } from "./errors.js";
import { fragment, Reassembler } from "./fragments.js";
import { framedBytes, FrameOpener, FrameSealer, MAX_FRAME_ENVELOPE, PIECE_OVERHEAD } from "./frames.js";
import type { LinkKeys } from "./handshake.js";

const SMALLEST_BUCKET = BUCKETS[0];

/** Reassembly of a fragmented message must finish within this long. */
export const REASSEMBLY_TIMEOUT_MS = 30_000;

/**
 * Pieces sent together share frames up to this size: the largest bucket. Every frame saved is a
 * cipher, a buffer and a WebSocket frame less on both sides, and relay CPU per delivery kept
 * falling up to it (docs/architecture.md); a burst of pieces costs the same AES work however it is
 * cut, and nothing waits for a frame to fill.
 */
export const PACK_LIMIT = BUCKETS[BUCKETS.length - 1] as number;

/**
 * Where the frame that starts at `pieces[start]` ends, and its size: as many pieces as fit
 * PACK_LIMIT, but a frame of several pieces less than 3/4 full takes fewer, in a smaller bucket,
 * and leaves the rest to the next frame, so that fill stays under a quarter of any frame that is
 * not the smallest (one more frame instead of up to half a frame of zeros).
 */
function nextFrame(pieces: readonly Uint8Array[], start: number): { end: number; size: number } {
  let end = start + 1;
  let bytes = framedBytes([pieces[start] as Uint8Array]);
  for (let next = pieces[end]; next !== undefined && bytes + PIECE_OVERHEAD + next.length <= PACK_LIMIT; next = pieces[++end]) {
    bytes += PIECE_OVERHEAD + next.length;
  }
  for (let size = bucketFor(bytes) as number; end - start > 1 && size > SMALLEST_BUCKET && bytes * 4 < size * 3; ) {
    size /= 2;
    while (end - start > 1 && bytes > size) bytes -= PIECE_OVERHEAD + (pieces[--end] as Uint8Array).length;
  }
  return { end, size: bucketFor(bytes) as number };
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
  private readonly cells = new CellReader();
  private nextMessage = 0;
  /** While set, the largest piece the peer may send, and no fragments (limitIncoming). */
  private maxIncomingPiece: number | undefined;

  /**
   * `peerSendsCells`: whether every frame from the peer is a cell (it announced that it paces its
   * frames, linkRevision.ts); otherwise frames of pieces.
   */
  constructor(
    keys: Pick<LinkKeys, "send" | "receive">,
    now: () => number = Date.now,
    private readonly peerSendsCells = false,
  ) {
    this.sealer = new FrameSealer(keys.send);
    this.opener = new FrameOpener(keys.receive);
    this.reassembler = new Reassembler(REASSEMBLY_TIMEOUT_MS, now);
  }

  /** The encoded envelope as pieces to send: itself, or its fragments when it is too large for a frame. */
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
   * Seals pieces sent together, in order, consecutive ones sharing frames (see nextFrame); each
   * frame is one bucket size.
   */
  sealAll(pieces: readonly Uint8Array[]): Uint8Array[] {
    const frames: Uint8Array[] = [];
    for (let start = 0; start < pieces.length; ) {
      const { end, size } = nextFrame(pieces, start);
      frames.push(this.sealer.sealPieces(pieces.slice(start, end), size));
      start = end;
    }
    return frames;
  }


  /** A cover frame of `size` bytes (a bucket size). */
  sealCover(size: number): Uint8Array {
    return this.sealer.seal(undefined, size);
  }

  /** A cell of `size` bytes: `plaintext` of the link's byte stream (cells.ts), then zeros; only to a peer told that this side paces. */
  sealCell(plaintext: Uint8Array, size: number): Uint8Array {
    return this.sealer.sealCell(plaintext, size);
  }

  /**
   * Until called again with undefined, takes from the peer only pieces of at most `maxPiece`
   * bytes and no fragments: a relay's link that has not authenticated holds nothing for its peer
   * beyond one Auth (linkAuth.ts, MAX_AUTH_ENVELOPE_BYTES). Anything more is a WireError.
   */
  limitIncoming(maxPiece: number | undefined): void {
    this.maxIncomingPiece = maxPiece;
  }

  /** Bytes held for the peer until more of its frames arrive: a partial cell record, a partial fragmented message. */
  get bufferedBytes(): number {
    return this.cells.buffered + this.reassembler.buffered;
  }

  /** The envelopes a frame completes, in order: none for cover frames and non-final fragments. */
  read(frame: Uint8Array): Envelope[] {
    return this.readEncoded(frame).envelopes.map((r) => r.envelope);
  }

  /**
   * Like read(), with each envelope's encoded bytes too, how many pieces the frame carried or (a
   * cell) completed, and whether it was a cover frame. Every piece is decoded before any envelope
   * is returned, so a frame with one bad piece yields none.
   */
  readEncoded(frame: Uint8Array): { cover: boolean; pieces: number; envelopes: ReadEnvelope[] } {
    let pieces: Uint8Array[];
    let cover: boolean;
    const limit = this.maxIncomingPiece;
    if (this.peerSendsCells) {
      const cell = this.cells.push(this.opener.openCell(frame), limit);
      pieces = cell.pieces;
      cover = !cell.carried;
    } else {
      pieces = this.opener.open(frame);
      cover = pieces.length === 0;
    }
    const envelopes: ReadEnvelope[] = [];
    for (const piece of pieces) {
      if (limit !== undefined && piece.length > limit) throw new WireError("too_large", `at most ${limit} bytes may arrive in a piece here`);
      const envelope = decodeEnvelope(piece);
      if (limit !== undefined && envelope.type === "Fragment") throw new WireError("fragment_error", "no fragments may arrive here (before Auth)");
      const whole = envelope.type === "Fragment" ? this.reassembler.pushEncoded(envelope) : { envelope, bytes: piece };
      if (whole !== undefined) envelopes.push(whole);
    }
    return { cover, pieces: pieces.length, envelopes };
  }
}
