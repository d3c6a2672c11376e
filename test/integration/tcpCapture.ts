// A TCP proxy on 127.0.0.1 that records every byte each way, and a parser that turns a recorded
// stream back into WebSocket message payloads (RFC 6455 framing, unmasking client frames).
import { createServer, connect, type Server, type AddressInfo } from "node:net";

export interface Capture {
  readonly port: number;
  /** Per connection: bytes client→relay and relay→client, with the time each chunk passed. */
  readonly connections: { up: { at: number; bytes: Buffer }[]; down: { at: number; bytes: Buffer }[] }[];
  close(): Promise<void>;
}

export async function startCapture(targetPort: number): Promise<Capture> {
  const connections: Capture["connections"][number][] = [];
  const server: Server = createServer((client) => {
    const record = { up: [] as { at: number; bytes: Buffer }[], down: [] as { at: number; bytes: Buffer }[] };
    connections.push(record);
    const upstream = connect(targetPort, "127.0.0.1");
    client.on("data", (d) => {
      record.up.push({ at: performance.now(), bytes: d });
      upstream.write(d);
    });
    upstream.on("data", (d) => {
      record.down.push({ at: performance.now(), bytes: d });
      client.write(d);
    });
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
    client.on("error", () => upstream.destroy());
    upstream.on("error", () => client.destroy());
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    connections,
    close: () => new Promise((r) => server.close(() => r())),
  };
}

export interface WsMessage {
  readonly at: number;
  readonly payload: Buffer;
}

/** The binary WebSocket messages in a recorded stream, after the HTTP upgrade. */
export function websocketMessages(chunks: { at: number; bytes: Buffer }[]): WsMessage[] {
  const all = Buffer.concat(chunks.map((c) => c.bytes));
  const times: number[] = [];
  for (const c of chunks) for (let i = 0; i < c.bytes.length; i++) times.push(c.at);
  let at = all.indexOf("\r\n\r\n") + 4;
  const out: WsMessage[] = [];
  let partial: Buffer[] = [];
  while (at + 2 <= all.length) {
    const start = at;
    const b0 = all[at]!;
    const b1 = all[at + 1]!;
    at += 2;
    let length = b1 & 0x7f;
    if (length === 126) {
      length = all.readUInt16BE(at);
      at += 2;
    } else if (length === 127) {
      length = Number(all.readBigUInt64BE(at));
      at += 8;
    }
    const mask = b1 & 0x80 ? all.subarray(at, (at += 4)) : undefined;
    if (at + length > all.length) break;
    const payload = Buffer.from(all.subarray(at, at + length));
    at += length;
    if (mask) for (let i = 0; i < payload.length; i++) payload[i]! ^= mask[i % 4]!;
    const opcode = b0 & 0x0f;
    if (opcode >= 0x8) continue; // close, ping, pong
    partial.push(payload);
    if (b0 & 0x80) {
      out.push({ at: times[start]!, payload: Buffer.concat(partial) });
      partial = [];
    }
  }
  return out;
}

/** Pearson's chi-square statistic of a byte histogram against the uniform distribution. */
export function chiSquare(bytes: Buffer): number {
  const counts = new Array<number>(256).fill(0);
  for (const b of bytes) counts[b]!++;
  const expected = bytes.length / 256;
  return counts.reduce((sum, c) => sum + (c - expected) ** 2 / expected, 0);
}
