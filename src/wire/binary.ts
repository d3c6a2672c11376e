import { WireError } from "./errors.js";

/** Appends big-endian fields to a growing buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private at = 0;

  /** `capacity`: expected size, so that large bodies are not copied while the buffer grows. */
  constructor(capacity = 64) {
    this.buf = new Uint8Array(capacity);
    this.view = new DataView(this.buf.buffer);
  }

  private reserve(n: number): void {
    if (this.at + n <= this.buf.length) return;
    const next = new Uint8Array(Math.max(this.buf.length * 2, this.at + n));
    next.set(this.buf.subarray(0, this.at));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  u8(v: number): this {
    this.reserve(1);
    this.view.setUint8(this.at, v);
    this.at += 1;
    return this;
  }

  u16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.at, v);
    this.at += 2;
    return this;
  }

  u32(v: number): this {
    this.reserve(4);
    this.view.setUint32(this.at, v);
    this.at += 4;
    return this;
  }

  u64(v: bigint): this {
    this.reserve(8);
    this.view.setBigUint64(this.at, v);
    this.at += 8;
    return this;
  }

  raw(bytes: Uint8Array): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.at);
    this.at += bytes.length;
    return this;
  }

  /** Bytes with a 1-byte length (at most 255). */
  vec8(bytes: Uint8Array): this {
    if (bytes.length > 0xff) throw new WireError("bad_field", "field longer than 255 bytes");
    return this.u8(bytes.length).raw(bytes);
  }

  /** Bytes with a 2-byte length. */
  vec16(bytes: Uint8Array): this {
    if (bytes.length > 0xffff) throw new WireError("bad_field", "field longer than 65535 bytes");
    return this.u16(bytes.length).raw(bytes);
  }

  /** Bytes with a 4-byte length. */
  vec32(bytes: Uint8Array): this {
    return this.u32(bytes.length).raw(bytes);
  }

  /** The bytes written (a view, no copy, when the capacity was exact). */
  bytes(): Uint8Array {
    return this.at === this.buf.length ? this.buf : this.buf.slice(0, this.at);
  }
}

/** Reads big-endian fields, throwing WireError("truncated") instead of reading past the end. */
export class ByteReader {
  private at = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  private need(n: number): void {
    if (this.at + n > this.buf.length) throw new WireError("truncated", "input ends inside a field");
  }

  u8(): number {
    this.need(1);
    return this.view.getUint8(this.at++);
  }

  u16(): number {
    this.need(2);
    const v = this.view.getUint16(this.at);
    this.at += 2;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.view.getUint32(this.at);
    this.at += 4;
    return v;
  }

  u64(): bigint {
    this.need(8);
    const v = this.view.getBigUint64(this.at);
    this.at += 8;
    return v;
  }

  /** The next `n` bytes, as a view into the input (decoded fields share the input's memory). */
  raw(n: number): Uint8Array {
    this.need(n);
    const out = this.buf.subarray(this.at, this.at + n);
    this.at += n;
    return out;
  }

  vec8(): Uint8Array {
    return this.raw(this.u8());
  }

  vec16(): Uint8Array {
    return this.raw(this.u16());
  }

  vec32(): Uint8Array {
    return this.raw(this.u32());
  }

  /** Everything not read yet. */
  rest(): Uint8Array {
    return this.raw(this.buf.length - this.at);
  }

  /** Throws trailing_bytes unless every byte was read. */
  end(): void {
    if (this.at !== this.buf.length) throw new WireError("trailing_bytes", "bytes left after the last field");
  }
}
