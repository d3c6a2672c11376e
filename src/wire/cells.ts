import { WireError } from "./errors.js";
import { isZeros, MAX_FRAME_ENVELOPE } from "./frames.js";

/**
 * A paced link's byte stream (link revision 3): the pieces a side sends, each as `length (2) |
 * piece`, one after another, carried in cells (frames.ts, sealCell) whose whole plaintext is
 * stream: a record may start in one cell and end in a later one. A piece is an encoded envelope
 * or one fragment of one, as in frames of pieces, so 1 to MAX_FRAME_ENVELOPE bytes. Where a cell
 * has nothing more to carry, the rest of it is zeros: a length field of 0, or a single byte left
 * at a record's start (a length field is never split between cells). So an envelope padded to a
 * bucket fills exactly one cell of that bucket, and a cover cell is all zeros.
 */
const LENGTH_BYTES = 2;
const EMPTY = new Uint8Array(0);

/** The sending side: pieces in, the next cell's plaintext out. */
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

  /** The plaintext of the next cell of `capacity` bytes (shorter when the rest is fill), or undefined when nothing is queued. */
  take(capacity: number): Uint8Array | undefined {
    if (this.queued === 0) return undefined;
    const out = new Uint8Array(Math.min(capacity, this.queued));
    let at = 0;
    while (at < out.length) {
      const piece = this.records[this.head] as Uint8Array;
      if (this.offset === 0) {
        // A length field goes whole into one cell: with one byte left, that byte is fill.
        if (out.length - at < LENGTH_BYTES) break;
        out[at++] = piece.length >> 8;
        out[at++] = piece.length & 0xff;
        this.offset = LENGTH_BYTES;
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
    this.queued -= at;
    // Drop sent records now and then, not on every take.
    if (this.head > 64 && this.head * 2 > this.records.length) {
      this.records.splice(0, this.head);
      this.head = 0;
    }
    return at === out.length ? out : out.subarray(0, at);
  }
}

/** The receiving side: cells' plaintexts in, whole pieces out. Holds at most one partial record. */
export class CellReader {
  /** The current record's length, once its length field was read (0: at a record's start). */
  private length = 0;
  /** The current record's bytes so far, views of the cells, joined once it is whole. */
  private chunks: Uint8Array[] = [];
  private have = 0;

  /** Bytes of the partial record held until the rest of it arrives. */
  get buffered(): number {
    return this.have;
  }

  /**
   * The pieces that a cell's plaintext completes, in order, each a copy the caller may keep, and
   * whether the cell carried any stream at all (a cover cell does not). Strict: a length over
   * `maxRecord` (at most MAX_FRAME_ENVELOPE), or fill that is not zeros, is a bad frame. Views of
   * `plaintext` are kept until its last record is whole: do not change it.
   */
  push(plaintext: Uint8Array, maxRecord = MAX_FRAME_ENVELOPE): { pieces: Uint8Array[]; carried: boolean } {
    const pieces: Uint8Array[] = [];
    let at = 0;
    while (at < plaintext.length) {
      if (this.length === 0) {
        const length = plaintext.length - at < LENGTH_BYTES ? 0 : ((plaintext[at] as number) << 8) | (plaintext[at + 1] as number);
        if (length === 0) {
          if (!isZeros(plaintext.subarray(at))) throw new WireError("bad_frame", "cell has bytes after its fill started");
          return { pieces, carried: at > 0 };
        }
        if (length > Math.min(maxRecord, MAX_FRAME_ENVELOPE)) throw new WireError("bad_frame", "cell stream record length out of range");
        this.length = length;
        at += LENGTH_BYTES;
        continue;
      }
      const n = Math.min(this.length - this.have, plaintext.length - at);
      this.chunks.push(plaintext.subarray(at, at + n));
      this.have += n;
      at += n;
      if (this.have === this.length) {
        pieces.push(join(this.chunks, this.have));
        this.chunks = [];
        this.have = 0;
        this.length = 0;
      }
    }
    return { pieces, carried: true };
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
