// Issue 13, points 2 and 3: sockets that have not authenticated must not hold the relay's
// resources: no memory beyond one Auth, no slot of an authenticated link, and only for a moment.
import { randomBytes } from "node:crypto";
import { connect, type Socket } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { ConfigError, DEFAULT_LIMITS, parseRelayConfig, type RelayLimits } from "../../src/relay/config.js";
import type { Relay } from "../../src/relay/relayServer.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import { fragment } from "../../src/wire/fragments.js";
import { ClientHandshake } from "../../src/wire/handshake.js";
import { LinkCodec } from "../../src/wire/link.js";
import { MAX_AUTH_ENVELOPE_BYTES } from "../../src/wire/linkAuth.js";
import { LINK_CELLS_HEADER, LINK_REVISION, LINK_REVISION_HEADER } from "../../src/wire/linkRevision.js";
import { eventually } from "../helpers.js";
import { testChannel, testIdentity } from "../identity.js";
import { mlsMessage } from "../transport/helpers.js";
import { link, startRelay } from "./relayFixture.js";

const cleanups: (() => void)[] = [];
afterEach(() => cleanups.splice(0).forEach((c) => c()));

function halfSentUpgrade(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => {
      socket.write("GET /v1/link HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"); // never finished
      socket.resume(); // read the 408, so that the close is seen
      resolve(socket);
    });
    socket.on("error", reject);
  });
}

interface RawLink {
  readonly ws: WebSocket;
  readonly codec: LinkCodec | undefined;
  readonly closed: Promise<{ code: number; reason: string }>;
}

/** A WebSocket on the link path that announces revision 3 (and cells, if asked), handshaken only if `handshake`. */
async function rawLink(relay: Relay, options: { cells?: boolean; handshake?: boolean } = {}): Promise<RawLink> {
  const headers: Record<string, string> = { [LINK_REVISION_HEADER]: String(LINK_REVISION), ...(options.cells ? { [LINK_CELLS_HEADER]: "1" } : {}) };
  const ws = new WebSocket(`${relay.url}/v1/link`, { headers });
  ws.binaryType = "nodebuffer";
  cleanups.push(() => ws.terminate());
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })));
  ws.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("unexpected-response", () => reject(new Error("upgrade refused")));
  });
  if (options.handshake === false) return { ws, codec: undefined, closed };
  const hs = new ClientHandshake(relay.relayKey.publicKey);
  const reply = new Promise<Buffer>((resolve) => ws.once("message", (d: Buffer) => resolve(d)));
  ws.send(hs.hello);
  return { ws, codec: new LinkCodec(hs.finish(await reply)), closed };
}

function realClient(relay: Relay, agent: string, cell = 256): RelayClient {
  // Paced with small cells, so that its Auth spans several of them.
  const c = new RelayClient({ url: relay.url, agent, identity: testIdentity(agent), relayKey: relay.relayKey.publicKey, cover: { mode: "poisson", rate: 200, cell }, backoff: { baseMs: 10, capMs: 50 } });
  cleanups.push(() => void c.close());
  return c;
}

/** The real client opens a channel and sends to it: it got in and is served. */
async function sendsThrough(client: RelayClient, agent: string): Promise<void> {
  await client.connect();
  const { channel, opening } = testChannel(testIdentity(agent));
  await client.openChannel(opening);
  expect(await client.sendMessage(mlsMessage(channel, 0n, 1, 2_000))).toBe(1n);
}

/** What a 1 KiB cell carries: all but its tag. */
const CELL_CAPACITY = 1024 - 16;

const limits = (l: Partial<RelayLimits>): RelayLimits => ({ ...DEFAULT_LIMITS, ...l });

describe("relay: sockets before authentication", () => {
  it("--max-preauth and --auth-timeout-ms set the pre-auth budget and deadline (512 and 3 s by default)", () => {
    const limitsOf = (...flags: string[]) => parseRelayConfig(["--data-dir", "/tmp/unused", ...flags], {}).limits;
    expect(limitsOf()).toMatchObject({ maxPreAuthLinks: 512, authTimeoutMs: 3_000, maxConnections: 10_000 });
    expect(limitsOf("--max-preauth", "64", "--auth-timeout-ms", "1500")).toMatchObject({ maxPreAuthLinks: 64, authTimeoutMs: 1_500 });
    for (const flags of [["--max-preauth", "0"], ["--auth-timeout-ms=-1"], ["--auth-timeout-ms", "soon"]]) expect(() => limitsOf(...flags)).toThrow(ConfigError);
  });

  it("closes half-sent HTTP upgrades after the header timeout, not Node's 60 s, and serves real clients meanwhile", async () => {
    const relay = await startRelay({ limits: limits({ httpHeadersTimeoutMs: 300 }) });
    const sockets = await Promise.all(Array.from({ length: 200 }, () => halfSentUpgrade(relay.port)));
    const closed = new Set<Socket>();
    for (const s of sockets) s.on("close", () => closed.add(s));
    const alice = await link(relay, "alice");
    expect(await alice.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
    await eventually(() => closed.size === sockets.length, 10_000).catch((e: Error) => {
      throw new Error(`${e.message}: ${closed.size} of ${sockets.length} closed`);
    });
  });

  it("reassembles nothing before Auth: links sending the fragments of a large message are closed, and the bytes held for them stay under one Auth each", async () => {
    const relay = await startRelay();
    const attackers = await Promise.all(Array.from({ length: 20 }, (_, i) => link(relay, `x${i}`, { auth: false })));
    // All but the last fragment of a 512 KiB message: what the relay held before, per link, until the deadline.
    const pieces = fragment(new Uint8Array(randomBytes(512 * 1024)), 7).slice(0, -1);
    for (const a of attackers) a.sendPieces(pieces);
    const closes = await Promise.all(attackers.map((a) => a.waitClosed(5_000)));
    expect(new Set(closes.map((c) => c.code))).toEqual(new Set([1002]));
    const { peakBufferedBytes, bufferedBytes, waiting } = relay.slots.stats;
    expect(peakBufferedBytes).toBeLessThanOrEqual(attackers.length * MAX_AUTH_ENVELOPE_BYTES);
    expect(bufferedBytes).toBe(0);
    expect(waiting).toBe(0);

    const alice = await link(relay, "alice");
    expect(await alice.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
  });

  it("takes from a paced link before Auth no cell record longer than an Auth; a real client's Auth across several cells still gets in", async () => {
    const relay = await startRelay();
    const attackers = await Promise.all(Array.from({ length: 20 }, () => rawLink(relay, { cells: true })));
    for (const { ws, codec } of attackers) {
      // A record that says it is as long as any piece may be, then cells of it that never finish it.
      const first = new Uint8Array(randomBytes(CELL_CAPACITY));
      first.set([0x7f, 0xee]);
      ws.send(codec!.sealCell(first, 1024));
      for (let i = 0; i < 8; i++) ws.send(codec!.sealCell(new Uint8Array(randomBytes(CELL_CAPACITY)), 1024));
    }
    const closes = await Promise.all(attackers.map((a) => a.closed));
    expect(new Set(closes.map((c) => c.code))).toEqual(new Set([1002]));
    expect(relay.slots.stats.peakBufferedBytes).toBeLessThanOrEqual(attackers.length * MAX_AUTH_ENVELOPE_BYTES);

    // Slow senders of a record as long as an Auth may be are held to that, and counted while they wait.
    const slow = await Promise.all(Array.from({ length: 10 }, () => rawLink(relay, { cells: true })));
    for (const { ws, codec } of slow) {
      const first = new Uint8Array(randomBytes(CELL_CAPACITY));
      first.set([MAX_AUTH_ENVELOPE_BYTES >> 8, MAX_AUTH_ENVELOPE_BYTES & 0xff]);
      ws.send(codec!.sealCell(first, 1024));
      for (let i = 0; i < 2; i++) ws.send(codec!.sealCell(new Uint8Array(randomBytes(CELL_CAPACITY)), 1024));
    }
    const held = slow.length * (3 * CELL_CAPACITY - 2);
    await eventually(() => relay.slots.stats.bufferedBytes === held);
    expect(relay.slots.stats.peakBufferedBytes).toBe(held);
    expect(held).toBeLessThan(slow.length * MAX_AUTH_ENVELOPE_BYTES);
    for (const { ws } of slow) ws.terminate();
    await eventually(() => relay.slots.stats.waiting === 0);
    expect(relay.slots.stats.bufferedBytes).toBe(0);

    await sendsThrough(realClient(relay, "alice"), "alice");
  });

  it("pre-auth sockets take no slot of an authenticated link: more of them than the relay has slots, and a real client still gets in and sends; they go at the deadline", async () => {
    const relay = await startRelay({ limits: limits({ maxConnections: 20, maxPreAuthLinks: 8, authTimeoutMs: 1_500 }) });
    // Twice the relay's slots: half never say a word, half finish the handshake and stop there.
    const idle = await Promise.all(Array.from({ length: 40 }, (_, i) => rawLink(relay, { handshake: i % 2 === 0 })));
    await sendsThrough(realClient(relay, "alice", 1024), "alice");
    const closes = await Promise.all(idle.map((l) => l.closed));
    // The oldest made room for newer ones, alice's among them (1013); the last went at the deadline (1008).
    expect(new Set(closes.map((c) => c.code))).toEqual(new Set([1013, 1008]));
    const { evicted, expired, waiting } = relay.slots.stats;
    expect({ closed: evicted + expired, waiting }).toEqual({ closed: idle.length, waiting: 0 });
    // Alice's link stayed: it holds one of the authenticated slots, and more agents get theirs.
    await sendsThrough(realClient(relay, "bob", 1024), "bob");
  });

  it("a new socket pushes out the oldest waiting one, never an authenticated link; a relay full of authenticated links refuses at Auth and at the upgrade", async () => {
    const relay = await startRelay({ limits: limits({ maxConnections: 2, maxPreAuthLinks: 4 }) });
    const alice = await link(relay, "alice");
    const waiting = await Promise.all(Array.from({ length: 4 }, (_, i) => link(relay, `w${i}`, { auth: false })));
    const bob = await link(relay, "bob"); // its socket took the place of the oldest waiting one
    expect(await waiting[0]!.waitClosed()).toEqual({ code: 1013, reason: "too many links waiting to authenticate; retry" });
    expect(waiting.slice(1).map((w) => w.closed)).toEqual([undefined, undefined, undefined]);
    // Both authenticated slots are taken: a waiting link cannot authenticate, a new one is refused at once.
    const refused = waiting[1]!;
    const signature = await testIdentity("w1").prove(refused.binding);
    void refused.request({ type: "Auth", id: 0n, agent: "w1", key: testIdentity("w1").key, signature, token: "" }).catch(() => undefined);
    expect(await refused.waitClosed()).toEqual({ code: 1013, reason: "relay full" });
    const late = await rawLink(relay, { handshake: false });
    expect(await late.closed).toEqual({ code: 1013, reason: "relay full" });
    for (const l of [alice, bob]) expect(await l.request({ type: "Ping", id: 0n })).toMatchObject({ type: "Pong" });
    expect(relay.slots.stats).toMatchObject({ waiting: 2, evicted: 1 });
  });
});
