import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { BUCKETS, LINK_FRAME_OVERHEAD } from "./buckets.js";
import { WireError } from "./errors.js";

/**
 * Link frames: AES-256-GCM over `length (2) | piece | length (2) | piece | ... | zero fill`, exactly
 * one bucket long. A piece is an encoded envelope (or one fragment of one); a zero length, or the
 * end of the plaintext, ends the list, and a frame whose first length is 0 is a cover frame. A
 * cell (link revision 3, from a side that announced it paces its frames) is the same AEAD over
 * the next bytes of that side's byte stream instead (cells.ts), so that every frame of a paced
 * link has one size whatever it carries. The fill is zeros *inside* the AEAD, so on the wire the
 * whole frame is ciphertext and tag, indistinguishable from random bytes; the lengths are
 * encrypted too.
 * Nonces are a per-direction frame counter (never sent, never repeated); every REKEY_INTERVAL
 * frames both sides move to a key derived from the previous one.
 */
export const REKEY_INTERVAL = 1 << 20;

const TAG_BYTES = 16;
const LENGTH_BYTES = 2;
const BUCKET_SET = new Set<number>(BUCKETS);
/** The largest envelope one frame carries; larger ones are fragmented. */
export const MAX_FRAME_ENVELOPE = (BUCKETS[BUCKETS.length - 1] as number) - LINK_FRAME_OVERHEAD;

/** The largest frame's plaintext; SCRATCH holds one frame's plaintext while it is sealed. */
const MAX_PLAINTEXT = (BUCKETS[BUCKETS.length - 1] as number) - TAG_BYTES;
/**
 * Shared by every sealer: frames are sealed one at a time and synchronously, and it is all zeros
 * between two seals (so the fill needs no writing and no plaintext lingers in it). One buffer per
 * process instead of one allocation per frame.
 */
const SCRATCH = Buffer.alloc(MAX_PLAINTEXT);
/** What the fill after the last piece must equal: an opened frame is checked against it. */
const ZEROS = Buffer.alloc(MAX_PLAINTEXT);
/** The nonce of the frame being sealed or opened; node copies it when the cipher is created. */
const NONCE = Buffer.alloc(12);
const TWO_TO_32 = 2 ** 32;

class FrameKey {
  /** A plain number: exact up to 2^53 frames, more than a link sends in centuries. */
  private counter = 0;
  private key: Buffer;

  constructor(
    key: Uint8Array,
    private readonly rekeyInterval: number,
  ) {
    this.key = Buffer.from(key);
  }

  /** Moves to the next frame: rekeys when due, writes the frame's nonce into NONCE, returns its key. */
  next(): Buffer {
    if (this.counter >= Number.MAX_SAFE_INTEGER) throw new WireError("bad_frame", "frame counter exhausted; reconnect");
    if (this.counter > 0 && this.counter % this.rekeyInterval === 0) {
      const previous = this.key;
      this.key = Buffer.from(hkdfSync("sha256", previous, Buffer.alloc(0), "skytale/link/rekey", 32));
      previous.fill(0);
    }
    // Bytes 0-3 stay zero; 4-11 are the counter, big-endian.
    NONCE.writeUInt32BE(Math.floor(this.counter / TWO_TO_32), 4);
    NONCE.writeUInt32BE(this.counter % TWO_TO_32, 8);
    this.counter++;
    return this.key;
  }
}

/** Seals frames in one direction. Frames must be sent in the order they are sealed. */
export class FrameSealer {
  private readonly key: FrameKey;

  constructor(key: Uint8Array, rekeyInterval = REKEY_INTERVAL) {
    this.key = new FrameKey(key, rekeyInterval);
  }

  /** A frame of `size` bytes carrying `envelope`, or a cover frame when `envelope` is undefined. */
  seal(envelope: Uint8Array | undefined, size: number): Uint8Array {
    return this.sealPieces(envelope === undefined ? [] : [envelope], size);
  }

  /**
   * A frame of `size` bytes carrying `pieces` in order (none: a cover frame); they must fit,
   * `framedBytes(pieces) <= size`.
   */
  sealPieces(pieces: readonly Uint8Array[], size: number): Uint8Array {
    return this.sealWith(size, (plaintext) => {
      let at = 0;
      for (const piece of pieces) {
        // An empty piece would read as the end of the list.
        if (piece.length === 0) throw new WireError("bad_frame", "an empty piece cannot be framed");
        if (at + LENGTH_BYTES + piece.length > plaintext.length) throw new WireError("too_large", "the pieces do not fit the frame");
        plaintext.writeUInt16BE(piece.length, at);
        plaintext.set(piece, at + LENGTH_BYTES);
        at += LENGTH_BYTES + piece.length;
      }
      return at;
    });
  }

  /** A cell of `size` bytes: `plaintext` (at most cellCapacity(size) bytes of the link's byte stream, cells.ts), then zeros. */
  sealCell(plaintext: Uint8Array, size: number): Uint8Array {
    return this.sealWith(size, (target) => {
      if (plaintext.length > target.length) throw new WireError("too_large", `a ${size}-byte cell holds ${target.length} bytes`);
      target.set(plaintext);
      return plaintext.length;
    });
  }

  /** Seals a `size`-byte frame whose plaintext `write` fills from the start (returning how far); the rest stays zero. */
  private sealWith(size: number, write: (plaintext: Buffer) => number): Uint8Array {
    if (!BUCKET_SET.has(size)) throw new WireError("bad_frame", `${size} is not a bucket size`);
    const plaintext = SCRATCH.subarray(0, size - TAG_BYTES);
    // A write that throws halfway may have left bytes anywhere: then all of it is zeroed.
    let written = plaintext.length;
    try {
      written = write(plaintext);
      const cipher = createCipheriv("aes-256-gcm", this.key.next(), NONCE);
      const body = cipher.update(plaintext);
      cipher.final();
      return Buffer.concat([body, cipher.getAuthTag()], size);
    } finally {
      plaintext.fill(0, 0, written);
    }
  }
}

/** Plaintext bytes of a cell of `size` bytes: a bucket of the stream holds exactly one envelope padded to that bucket. */
export function cellCapacity(size: number): number {
  return size - TAG_BYTES;
}

/** The bytes a frame needs for `pieces` (before rounding up to a bucket): each with its length, and the tag. */
export function framedBytes(pieces: readonly Uint8Array[]): number {
  return pieces.reduce((sum, p) => sum + LENGTH_BYTES + p.length, TAG_BYTES);
}

/** What each piece after the first adds to framedBytes besides its own bytes. */
export const PIECE_OVERHEAD = LENGTH_BYTES;

/** Opens frames from the other direction, in order. */
export class FrameOpener {
  private readonly key: FrameKey;

  constructor(key: Uint8Array, rekeyInterval = REKEY_INTERVAL) {
    this.key = new FrameKey(key, rekeyInterval);
  }

  /**
   * The pieces a frame carries, in order; none for a cover frame. Strict: a length running past
   * the end, or anything but zeros after the last piece, is a bad frame.
   */
  open(frame: Uint8Array): Uint8Array[] {
    const plaintext = this.openCell(frame);
    const pieces: Uint8Array[] = [];
    let at = 0;
    while (at + LENGTH_BYTES <= plaintext.length) {
      const length = plaintext.readUInt16BE(at);
      if (length === 0) break;
      at += LENGTH_BYTES;
      if (length > plaintext.length - at) throw new WireError("bad_frame", "frame length field out of range");
      pieces.push(new Uint8Array(plaintext.buffer, plaintext.byteOffset + at, length));
      at += length;
    }
    if (!isZeros(plaintext.subarray(at))) throw new WireError("bad_frame", "frame has bytes after its last piece");
    return pieces;
  }

  /** A frame's whole plaintext (a cell's: bytes of the sender's stream, then zeros; see cells.ts), once it authenticates. */
  openCell(frame: Uint8Array): Buffer {
    if (!BUCKET_SET.has(frame.length)) throw new WireError("bad_frame", `frame of ${frame.length} bytes is not a bucket size`);
    const decipher = createDecipheriv("aes-256-gcm", this.key.next(), NONCE);
    decipher.setAuthTag(frame.subarray(frame.length - TAG_BYTES));
    // GCM's final() returns nothing: the whole plaintext comes from update().
    const plaintext = decipher.update(frame.subarray(0, frame.length - TAG_BYTES));
    try {
      decipher.final();
    } catch {
      throw new WireError("bad_frame", "frame failed authentication");
    }
    return plaintext;
  }
}

/** Whether `bytes` (at most a frame's plaintext) are all zero: the fill after what a frame carries. */
export function isZeros(bytes: Uint8Array): boolean {
  return bytes.length === 0 || Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).equals(ZEROS.subarray(0, bytes.length));
}
