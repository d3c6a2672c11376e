import { createCipheriv, createDecipheriv, hkdfSync } from "node:crypto";
import { BUCKETS, LINK_FRAME_OVERHEAD } from "./buckets.js";
import { WireError } from "./errors.js";

/**
 * Link frames: AES-256-GCM over `length (2) | envelope | zero fill`, exactly one bucket long.
 * Length 0 marks a cover frame. The fill is zeros *inside* the AEAD, so on the wire the whole
 * frame is ciphertext and tag, indistinguishable from random bytes; the length is encrypted too.
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
    if (!BUCKET_SET.has(size)) throw new WireError("bad_frame", `${size} is not a bucket size`);
    const length = envelope?.length ?? 0;
    if (length > size - LINK_FRAME_OVERHEAD) throw new WireError("too_large", "envelope does not fit the frame");
    const plaintext = SCRATCH.subarray(0, size - TAG_BYTES);
    try {
      plaintext.writeUInt16BE(length, 0);
      if (envelope !== undefined) plaintext.set(envelope, LENGTH_BYTES);
      const cipher = createCipheriv("aes-256-gcm", this.key.next(), NONCE);
      const body = cipher.update(plaintext);
      cipher.final();
      return Buffer.concat([body, cipher.getAuthTag()], size);
    } finally {
      plaintext.fill(0, 0, LENGTH_BYTES + length);
    }
  }
}

/** Opens frames from the other direction, in order. */
export class FrameOpener {
  private readonly key: FrameKey;

  constructor(key: Uint8Array, rekeyInterval = REKEY_INTERVAL) {
    this.key = new FrameKey(key, rekeyInterval);
  }

  /** The envelope a frame carries, or undefined for a cover frame. */
  open(frame: Uint8Array): Uint8Array | undefined {
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
    const length = plaintext.readUInt16BE(0);
    if (length === 0) return undefined;
    if (length > frame.length - LINK_FRAME_OVERHEAD) throw new WireError("bad_frame", "frame length field out of range");
    return new Uint8Array(plaintext.buffer, plaintext.byteOffset + LENGTH_BYTES, length);
  }
}
