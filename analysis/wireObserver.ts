// The passive observer: a TCP proxy on 127.0.0.1 between one agent and the relay that reads the
// WebSocket frame headers going by (RFC 6455, payloads never kept) and notes, for every binary
// message, when its first byte passed, which way it went and how long it was. That is all a
// network observer of a ws:// (or, up to a few bytes, a wss://) link learns.
import { connect, createServer, type AddressInfo, type Server, type Socket } from "node:net";

export type Direction = "up" | "down";

export interface WireEvent {
  /** performance.now() when the chunk holding the message's first header byte passed the proxy. */
  readonly at: number;
  readonly dir: Direction;
  /** Payload bytes of the WebSocket message (a link frame: a bucket size, or 256 for the handshake). */
  readonly size: number;
}

/**
 * Reads WebSocket frames from one direction's byte stream as it arrives, after the HTTP upgrade.
 * Only headers are parsed; payload bytes are skipped. Fragmented messages count once, at their
 * first fragment; control frames (ping, pong, close) are not messages.
 */
export class WsHeaderReader {
  private upgraded = false;
  private head: Buffer = Buffer.alloc(0);
  /** When the first byte of what `head` holds arrived. */
  private headAt = 0;
  /** Payload bytes of the current frame still to skip. */
  private skip = 0;
  private message: { at: number; size: number } | undefined;

  constructor(private readonly emit: (at: number, size: number) => void) {}

  push(chunk: Buffer, at: number): void {
    let data = chunk;
    if (!this.upgraded) {
      this.head = Buffer.concat([this.head, data]);
      const end = this.head.indexOf("\r\n\r\n");
      if (end < 0) {
        if (this.head.length > 64 * 1024) throw new Error("no end of HTTP upgrade in 64 KiB");
        return;
      }
      this.upgraded = true;
      data = this.head.subarray(end + 4);
      this.head = Buffer.alloc(0);
    }
    while (data.length > 0) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, data.length);
        this.skip -= n;
        data = data.subarray(n);
        continue;
      }
      if (this.head.length === 0) {
        this.head = data;
        this.headAt = at;
      } else this.head = Buffer.concat([this.head, data]);
      const frame = parseHeader(this.head);
      if (frame === undefined) return; // the header is not complete yet
      data = this.head.subarray(frame.headerBytes);
      this.head = Buffer.alloc(0);
      this.skip = frame.length;
      if (frame.opcode >= 0x8) continue;
      if (frame.opcode !== 0) this.message = { at: this.headAt, size: 0 };
      if (this.message === undefined) throw new Error("continuation frame without a message");
      this.message.size += frame.length;
      if (frame.fin) {
        this.emit(this.message.at, this.message.size);
        this.message = undefined;
      }
    }
  }
}

function parseHeader(b: Buffer): { fin: boolean; opcode: number; length: number; headerBytes: number } | undefined {
  if (b.length < 2) return undefined;
  const b0 = b[0] as number;
  const b1 = b[1] as number;
  let at = 2;
  let length = b1 & 0x7f;
  if (length === 126) {
    if (b.length < 4) return undefined;
    length = b.readUInt16BE(2);
    at = 4;
  } else if (length === 127) {
    if (b.length < 10) return undefined;
    length = Number(b.readBigUInt64BE(2));
    at = 10;
  }
  if (b1 & 0x80) at += 4; // the client's masking key
  if (b.length < at) return undefined;
  return { fin: (b0 & 0x80) !== 0, opcode: b0 & 0x0f, length, headerBytes: at };
}

export interface WireTap {
  readonly port: number;
  /** Messages seen so far on the connections through the proxy (one agent's links), in order of arrival. */
  readonly events: WireEvent[];
  /** Raw TCP payload bytes each way (WebSocket headers included), for the cost of a setting. */
  readonly bytes: { up: { at: number; n: number }[]; down: { at: number; n: number }[] };
  close(): Promise<void>;
}

/** A proxy to 127.0.0.1:`targetPort` that observes every connection made through it: one agent's link, and any reconnection. */
export async function startWireTap(targetPort: number): Promise<WireTap> {
  const events: WireEvent[] = [];
  const bytes: WireTap["bytes"] = { up: [], down: [] };
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(targetPort, "127.0.0.1");
    sockets.add(client).add(upstream);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    const up = new WsHeaderReader((at, size) => events.push({ at, dir: "up", size }));
    const down = new WsHeaderReader((at, size) => events.push({ at, dir: "down", size }));
    client.on("data", (d: Buffer) => {
      const at = performance.now();
      upstream.write(d);
      bytes.up.push({ at, n: d.length });
      up.push(d, at);
    });
    upstream.on("data", (d: Buffer) => {
      const at = performance.now();
      client.write(d);
      bytes.down.push({ at, n: d.length });
      down.push(d, at);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    for (const s of [client, upstream]) {
      s.on("close", end);
      s.on("error", end);
      s.on("close", () => sockets.delete(s));
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    events,
    bytes,
    close: () =>
      new Promise((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}
