import { type AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket, { WebSocketServer } from "ws";
import { startWireTap, WsHeaderReader, type WireTap } from "../../analysis/wireObserver.js";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const waitFor = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(check()).toBe(true);
};

describe("the observer's WebSocket header reader", () => {
  it("notes the size and direction of every message through the proxy, payloads of any length, both ways", async () => {
    const server = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
    await new Promise((r) => server.once("listening", r));
    cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
    server.on("connection", (ws) => ws.on("message", (data: Buffer) => ws.send(Buffer.alloc(data.length * 2))));
    const tap: WireTap = await startWireTap((server.address() as AddressInfo).port);
    cleanups.push(() => tap.close());
    const client = new WebSocket(`ws://127.0.0.1:${tap.port}`, { perMessageDeflate: false });
    cleanups.push(() => client.terminate());
    await new Promise((r) => client.once("open", r));
    // 7-bit, 16-bit and 64-bit length headers, masked (client) and not (server).
    const sizes = [1, 125, 126, 1000, 65535, 65536, 100_000];
    for (const size of sizes) client.send(Buffer.alloc(size, 1));
    client.ping();
    await waitFor(() => tap.events.length === 2 * sizes.length);
    expect(tap.events.filter((e) => e.dir === "up").map((e) => e.size)).toEqual(sizes);
    expect(tap.events.filter((e) => e.dir === "down").map((e) => e.size)).toEqual(sizes.map((s) => 2 * s));
    expect(tap.bytes.up.reduce((s, c) => s + c.n, 0)).toBeGreaterThan(sizes.reduce((a, b) => a + b, 0));
  });

  it("reads the same from a stream cut into single bytes, and joins a fragmented message", () => {
    const seen: [number, number][] = [];
    const reader = new WsHeaderReader((at, size) => seen.push([at, size]));
    const frame = (fin: boolean, opcode: number, payload: number) => {
      const head = payload < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, payload]) : Buffer.from([(fin ? 0x80 : 0) | opcode, 126, payload >> 8, payload & 0xff]);
      return Buffer.concat([head, Buffer.alloc(payload, 7)]);
    };
    const stream = Buffer.concat([
      Buffer.from("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"),
      frame(true, 2, 256),
      frame(false, 2, 100),
      frame(true, 0x9, 4), // a ping between fragments
      frame(true, 0, 50),
      frame(true, 2, 3),
    ]);
    for (let i = 0; i < stream.length; i++) reader.push(stream.subarray(i, i + 1), i);
    expect(seen.map(([, size]) => size)).toEqual([256, 150, 3]);
    // Each message is timed at its first header byte.
    expect(seen[0]![0]).toBe(stream.indexOf(Buffer.from([0x82, 126])));
  });
});
