import { WireError } from "./errors.js";
import { MAX_FRAME_ENVELOPE } from "./frames.js";

/**
 * A paced link's byte stream (link revision 3): the pieces a side sends, each as `length (2) |
 * piece`, one after another, cut into cells wherever a cell ends (frames.ts, sealCell). A piece
 * is an encoded envelope or one fragment of one, as in frames of pieces, so it is at most
 * MAX_FRAME_ENVELOPE bytes.
 */
const LENGTH_BYTES = 2;

/** The sending side: pieces in, the next cell's bytes out. */
export class CellWriter {
  private readonly records: Uint8Array[] = [];
  /** The first record not sent in full, and how many of its bytes (its length field included) were. */
  private head = 0;
  private offset = 0;
  private queued = 0;

  /** Bytes waiting to be sent, length fields included. */
  get bytes(): number {
    return this.queued;
  }

  push(piece: Uint8Array): void {
    if (piece.length === 0 || piece.length > MAX_FRAME_ENVELOPE) throw new WireError("too_large", `a piece is 1-${MAX_FRAME_ENVELOPE} bytes`);
    this.records.push(piece);
    this.queued += LENGTH_BYTES + piece.length;
  }

  /** The next `max` bytes of the stream (fewer if fewer are queued), or undefined when none are. */
  take(max: number): Uint8Array | undefined {
    if (this.queued === 0) return undefined;
    const out = new Uint8Array(Math.min(max, this.queued));
    let at = 0;
    while (at < out.length) {
      const piece = this.records[this.head] as Uint8Array;
      if (this.offset < LENGTH_BYTES) {
        const length = [piece.length >> 8, piece.length & 0xff];
        while (this.offset < LENGTH_BYTES && at < out.length) out[at++] = length[this.offset++] as number;
        continue;
      }
      const from = this.offset - LENGTH_BYTES;
      const n = Math.min(piece.length - from, out.length - at);
      out.set(piece.subarray(from, from + n), at);
      at += n;
      this.offset += n;
      if (this.offset === LENGTH_BYTES + piece.length) {
        this.records[this.head++] = EMPTY;
        this.offset = 0;
      }
    }
    this.queued -= out.length;
    // Drop sent records now and then, not on every take.
    if (this.head > 64 && this.head * 2 > this.records.length) {
      this.records.splice(0, this.head);
      this.head = 0;
    }
    return out;
  }
}

const EMPTY = new Uint8Array(0);

/** The receiving side: cells' bytes in, whole pieces out. Holds at most one partial record. */
export class CellReader {
  /** The current record's length field as far as it came (it may be split between cells). */
  private lengthField = 0;
  private lengthBytes = 0;
  /** The current record's bytes so far, views of the cells' data, joined once it is whole. */
  private chunks: Uint8Array[] = [];
  private have = 0;

  /** The pieces that `data` completes, in order, each a copy the caller may keep. Views of `data` are kept until its last record is whole: do not change it. */
  push(data: Uint8Array): Uint8Array[] {
    const pieces: Uint8Array[] = [];
    let at = 0;
    while (at < data.length) {
      if (this.lengthBytes < LENGTH_BYTES) {
        this.lengthField = (this.lengthField << 8) | (data[at++] as number);
        if (++this.lengthBytes === LENGTH_BYTES && (this.lengthField === 0 || this.lengthField > MAX_FRAME_ENVELOPE)) {
          throw new WireError("bad_frame", "cell stream record length out of range");
        }
        continue;
      }
      const n = Math.min(this.lengthField - this.have, data.length - at);
      this.chunks.push(data.subarray(at, at + n));
      this.have += n;
      at += n;
      if (this.have === this.lengthField) {
        pieces.push(join(this.chunks, this.have));
        this.chunks = [];
        this.have = 0;
        this.lengthField = 0;
        this.lengthBytes = 0;
      }
    }
    return pieces;
  }
}

function join(chunks: readonly Uint8Array[], length: number): Uint8Array {
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.length;
  }
  return out;
}
