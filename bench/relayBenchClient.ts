// Lean clients for bench/relay.bench.ts, one for each relay kind, doing the same few operations.
// The skytale one is the transport's link on its own (src/wire handshake + LinkCodec, every frame
// opened and decoded), without request bookkeeping, timers or buffering of what arrives, so that
// the benchmark measures the relay and not the client.
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import type { CommitProof } from "../src/wire/commitProof.js";
import type { EnvelopeOf } from "../src/wire/envelope.js";
import { ClientHandshake } from "../src/wire/handshake.js";
import { LinkCodec } from "../src/wire/link.js";
import { LINK_CELLS_HEADER, LINK_REVISION, LINK_REVISION_HEADER, peerRevision, peerSendsCells } from "../src/wire/linkRevision.js";
import { testChannel, testIdentity } from "../test/identity.js";

export type RelayKind = "baseline" | "off";

/** A 1 KiB message after MLS and bucket padding: its envelope fills one 2048-byte frame. */
export const BODY_BYTES = 2020;
/** The baseline relay answers each published message with 8 bytes. */
const PLAIN_ACK_BYTES = 8;

/** A body the relay accepts as an MLS PrivateMessage (its cleartext header) with random content. */
export function messageBody(groupId: Uint8Array, epoch = 0n, contentType: 1 | 3 = 1, size = BODY_BYTES): Uint8Array {
  const b = randomBytes(size);
  b.writeUInt16BE(1, 0);
  b.writeUInt16BE(2, 2);
  b[4] = groupId.length;
  b.set(groupId, 5);
  b.writeBigUInt64BE(epoch, 5 + groupId.length);
  b[13 + groupId.length] = contentType;
  return b;
}

export interface BenchClient {
  /** Opens a channel this client's agent created (a skytale relay accepts nothing on it before). */
  open(opening: EnvelopeOf<"ChannelOpen">): Promise<void>;
  subscribe(): Promise<void>;
  /** Sends a GroupCommit with its proof (skytale only); resolves on the relay's answer. */
  commit(body: Uint8Array, proof: CommitProof): Promise<void>;
  /** Publishes all bodies with at most `window` unacknowledged; resolves when all are acknowledged. */
  publish(bodies: readonly Uint8Array[], window: number): Promise<void>;
  /** Messages delivered to this client so far. */
  received(): number;
  /** Called on every delivered message. */
  onReceive(fn: () => void): void;
  close(): void;
}

/** Sends `bodies` through `send`, keeping `window` in flight; `acked` is wired to each reply. */
function slidingWindow(bodies: readonly Uint8Array[], window: number, send: (body: Uint8Array) => void): { done: Promise<void>; acked: () => void } {
  let sent = 0;
  let acks = 0;
  let finish!: () => void;
  const done = new Promise<void>((resolve) => (finish = resolve));
  const fill = () => {
    while (sent < bodies.length && sent - acks < window) send(bodies[sent++]!);
  };
  if (bodies.length === 0) finish();
  fill();
  return {
    done,
    acked: () => {
      if (++acks === bodies.length) finish();
      else fill();
    },
  };
}

/** A WebSocket to `url`, and whether the relay announced that its frames to us are cells (it paces). */
async function open(url: string): Promise<WebSocket & { relayCells?: boolean }> {
  const ws: WebSocket & { relayCells?: boolean } = new WebSocket(url, { perMessageDeflate: false, headers: { [LINK_REVISION_HEADER]: String(LINK_REVISION) } });
  ws.binaryType = "nodebuffer";
  ws.once("upgrade", (response) => (ws.relayCells = peerSendsCells(peerRevision(response.headers[LINK_REVISION_HEADER]), response.headers[LINK_CELLS_HEADER])));
  await new Promise((resolve, reject) => (ws.once("open", resolve), ws.once("error", reject)));
  return ws;
}

export async function plainClient(url: string): Promise<BenchClient> {
  const ws = await open(url);
  let got = 0;
  let onAck: (() => void) | undefined;
  let onSubscribed: (() => void) | undefined;
  const listeners: (() => void)[] = [];
  ws.on("message", (data: Buffer, isBinary) => {
    if (!isBinary) return onSubscribed?.();
    if (data.length === PLAIN_ACK_BYTES) return onAck?.();
    got++;
    for (const l of listeners) l();
  });
  return {
    open: async () => undefined,
    subscribe: () =>
      new Promise<void>((resolve) => {
        onSubscribed = resolve;
        ws.send("sub");
      }),
    publish(bodies, window) {
      const w = slidingWindow(bodies, window, (b) => ws.send(b));
      onAck = w.acked;
      return w.done;
    },
    commit: () => Promise.reject(new Error("the plain relay knows no commits")),
    received: () => got,
    onReceive: (fn) => listeners.push(fn),
    close: () => ws.close(),
  };
}

export async function skytaleClient(url: string, relayKey: Uint8Array, agent: string, channel: Uint8Array): Promise<BenchClient> {
  const ws = await open(`${url}/v1/link`);
  const hs = new ClientHandshake(relayKey);
  const reply = new Promise<Buffer>((resolve) => ws.once("message", resolve));
  ws.send(hs.hello);
  const keys = hs.finish(await reply);
  const codec = new LinkCodec(keys, Date.now, ws.relayCells ?? false);
  let nextId = 1n;
  // Like the transport's link: what one turn sends is sealed at its end, small pieces sharing frames.
  let pending: Uint8Array[] = [];
  const flush = () => {
    for (const frame of codec.sealAll(pending)) ws.send(frame);
    pending = [];
  };
  const send = (e: Parameters<LinkCodec["pieces"]>[0]) => {
    if (pending.length === 0) process.nextTick(flush);
    pending.push(...codec.pieces(e));
  };
  let got = 0;
  let onReply: (() => void) | undefined;
  const listeners: (() => void)[] = [];
  ws.on("message", (data: Buffer) => {
    for (const e of codec.read(data)) {
      if (e.type === "Msg") {
        got++;
        for (const l of listeners) l();
      } else if (e.type === "Error") throw new Error(`relay refused a request: ${e.code}`);
      else if (e.type === "Acks") e.acks.forEach(() => onReply?.());
      else onReply?.();
    }
  });
  /** One request at a time outside publish(): resolves on the next reply. */
  const request = (e: Parameters<LinkCodec["pieces"]>[0]) =>
    new Promise<void>((resolve) => {
      onReply = resolve;
      send(e);
    });
  const identity = testIdentity(agent);
  await request({ type: "Auth", id: nextId++, agent, key: identity.key, signature: await identity.prove(keys.binding), token: "" });
  return {
    open: (opening) => request({ ...opening, id: nextId++ }),
    // Far in the future: no replay of earlier runs' messages, only live ones.
    subscribe: () => request({ type: "Subscribe", id: nextId++, channel, fromSeq: 1_000_000_000n }),
    publish(bodies, window) {
      const w = slidingWindow(bodies, window, (body) => send({ type: "Msg", id: nextId++, body }));
      onReply = w.acked;
      return w.done;
    },
    commit: (body, proof) => request({ type: "GroupCommit", id: nextId++, commit: body, welcome: undefined, proof }),
    received: () => got,
    onReceive: (fn) => listeners.push(fn),
    close: () => ws.close(),
  };
}

export function connectClient(kind: RelayKind, url: string, relayKey: Uint8Array, agent: string, channel: Uint8Array): Promise<BenchClient> {
  return kind === "baseline" ? plainClient(url) : skytaleClient(url, relayKey, agent, channel);
}

/** The channel the benchmark's clients publish to, opened by its creator before they connect. */
export const BENCH_CHANNEL = testChannel(testIdentity("bench-creator"), "relay bench");

/** Opens BENCH_CHANNEL on a skytale relay (the baseline needs nothing). */
export async function openBenchChannel(url: string, relayKey: Uint8Array): Promise<void> {
  const creator = await skytaleClient(url, relayKey, "bench-creator", BENCH_CHANNEL.channel);
  await creator.open({ type: "ChannelOpen", id: 0n, ...BENCH_CHANNEL.opening });
  creator.close();
}
