import { afterEach, describe, expect, it } from "vitest";
import { Relay } from "../../src/relay/relayServer.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { MemoryOutbox } from "../../src/transport/outbox.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { groupOf, openThrough, tempDir, text } from "../helpers.js";
import { testIdentity } from "../identity.js";
import { chiSquare, startCapture, websocketMessages } from "./tcpCapture.js";

const CHANNEL = "acme/wire/capture";
const MARKER = "PLAINTEXT-MARKER-7f3a";
/** χ² critical value for 255 degrees of freedom at α = 0.01. */
const CHI2_CRITICAL = 310.46;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("what a passive observer of the wire sees", () => {
  it("frames of the cell's size only, no plaintext, bytes that look uniform, and cover both ways while idle", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const groupId = (await alice!.mls.channelInfo(CHANNEL)).groupId;
    const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", tempDir(), "--cover", "poisson", "--cover-rate", "100", "--cover-cell", "2048"], {}), { log: () => {} });
    cleanups.push(() => relay.close());
    const capture = await startCapture(relay.port);
    cleanups.push(() => capture.close());

    const clients = ["alice", "bob"].map((agent) => {
      const c = new RelayClient({
        url: `ws://127.0.0.1:${capture.port}`,
        agent,
        identity: testIdentity(agent),
        relayKey: relay.relayKey.publicKey,
        outbox: new MemoryOutbox(),
        cover: { mode: "poisson", rate: 100, cell: 2048 },
      });
      cleanups.push(() => c.close());
      return c;
    });
    const received: string[] = [];
    for (const c of clients) await c.connect();
    await openThrough(clients[0]!, stream);
    for (const c of clients) await c.subscribe(groupId, 1n);
    clients[1]!.on("channel", (d) => received.push(d.envelope.type));

    // Active: messages of many sizes, each carrying the marker.
    for (let i = 0; i < 40; i++) {
      const body = await alice!.mls.encrypt(CHANNEL, text(`${MARKER} ${"x".repeat((i * 397) % 5000)}`));
      await clients[0]!.sendMessage(body);
    }
    while (received.length < 40) await new Promise((r) => setTimeout(r, 10));
    // Idle: only cover should flow.
    const idleFrom = performance.now();
    await new Promise((r) => setTimeout(r, 1500));
    const idleTo = performance.now();
    void bob;

    const payloads: Buffer[] = [];
    for (const conn of capture.connections) {
      const raw = Buffer.concat([...conn.up, ...conn.down].map((c) => c.bytes));
      expect(raw.includes(Buffer.from(MARKER))).toBe(false);
      expect(raw.includes(Buffer.from(CHANNEL))).toBe(false);
      for (const direction of [conn.up, conn.down]) {
        const messages = websocketMessages(direction);
        expect(messages[0]!.payload.length).toBe(256); // the handshake
        const frames = messages.slice(1);
        expect(frames.length).toBeGreaterThan(10);
        // Paced both ways: every frame the cell's size, whatever it carried (messages of 0-5 KB).
        for (const f of frames) expect(f.payload.length).toBe(2048);
        const idle = frames.filter((f) => f.at >= idleFrom && f.at <= idleTo);
        expect(idle.length).toBeGreaterThan(5); // cover traffic while nothing is said
        payloads.push(...frames.map((f) => f.payload));
      }
    }
    // The statistic is itself random (1% of uniform samples exceed the critical value), so judge
    // five independent slices and require most to pass: a real bias fails them all.
    const all = Buffer.concat(payloads);
    const slice = Math.floor(all.length / 5);
    const stats = Array.from({ length: 5 }, (_, i) => chiSquare(all.subarray(i * slice, (i + 1) * slice)));
    expect(all.length).toBeGreaterThan(100_000);
    expect(stats.filter((s) => s < CHI2_CRITICAL).length).toBeGreaterThanOrEqual(4);
  });
});
