// npm run bench:abuse — issue 13's abuse mix against a relay in its own process (bench/relayServerChild.ts:
// SQLite, default limits, cover off), while an honest pair of links keeps talking through it: one
// sends a 200-byte message every 20 ms and waits for its Ack and for the other's copy. The mix,
// what the relay now bounds or refuses:
//   - replay amplification: an abuser fills a channel's archive (16 MiB) and its own inbox (750
//     items, 11 MiB, from 15 accomplices: the most relay-through items an inbox takes); then, round after round, 8 links send 1,000 Subscribes each for that channel
//     and 4 links 1,000 InboxSubscribes each, packed into as few frames as the link allows;
//   - sockets that never authenticate (300 a round, holding pre-auth slots until their deadline);
//   - an inbox flood: 850 items of 15 KB from one sender at the honest receiver (past its share, refused).
// The same honest pair alone, on a fresh relay, is the baseline. Reports the relay's peak RSS
// (VmHWM) in each, what its replays held (Relay.replays), and whether the honest pair was served:
// every message acknowledged and delivered, latency p50/p99. BENCH_QUICK=1: a smaller, shorter run.
// Writes the bench:abuse section of docs/benchmarks.md.
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { spawnJsonChild, type JsonChild } from "../analysis/jsonChild.js";
import { DEFAULT_LIMITS } from "../src/relay/config.js";
import type { ReplayStats } from "../src/relay/replayBudget.js";
import type { Envelope } from "../src/wire/envelope.js";
import { testChannel, testIdentity, testKeyOf } from "../test/identity.js";
import { TestLink } from "../test/relay/testLink.js";
import { messageBody } from "./relayBenchClient.js";
import { machineLine, replaceSection } from "./report.js";

export interface AbuseSize {
  /** Bytes in the abused channel's archive, in 8,000-byte messages. */
  readonly archiveBytes: number;
  /** Items of 15 KB in the abuser's inbox. */
  readonly inboxItems: number;
  /** Subscribe (and InboxSubscribe) requests per abusive link per round. */
  readonly requests: number;
  readonly subscribers: number;
  readonly inboxSubscribers: number;
  readonly preAuthSockets: number;
  /** How long the honest pair talks. */
  readonly honestMs: number;
}

/** What one sender may have waiting in one inbox (the per-sender share): fills take several identities. */
const SENDER_SHARE = DEFAULT_LIMITS.maxInboxPerSender;
/** The most relay-through items an inbox takes: the rest of it is kept for Welcomes. */
const RELAY_THROUGH_ROOM = DEFAULT_LIMITS.maxInboxItems - DEFAULT_LIMITS.inboxWelcomeReserve;

export const FULL: AbuseSize = { archiveBytes: 16 << 20, inboxItems: RELAY_THROUGH_ROOM, requests: 1_000, subscribers: 8, inboxSubscribers: 4, preAuthSockets: 300, honestMs: 20_000 };
export const QUICK: AbuseSize = { archiveBytes: 2 << 20, inboxItems: 100, requests: 200, subscribers: 2, inboxSubscribers: 1, preAuthSockets: 20, honestMs: 2_000 };

const FRAME = 8_000;
const ITEM = 15_000;
const HONEST_EVERY_MS = 20;

export interface AbuseResult {
  readonly peakRss: number;
  readonly sent: number;
  readonly acked: number;
  readonly delivered: number;
  readonly p50: number;
  readonly p99: number;
  readonly replays: ReplayStats;
  /** Abusive requests sent (Subscribes, InboxSubscribes, inbox items) and sockets opened without Auth. */
  readonly abusiveRequests: number;
  readonly preAuthSockets: number;
}

interface RelayChild {
  readonly url: string;
  readonly key: Uint8Array;
  ask<T>(line: string): Promise<T>;
  stop(): void;
}

async function startRelay(): Promise<RelayChild> {
  const child: JsonChild = spawnJsonChild(join(import.meta.dirname, "relayServerChild.ts"), ["off", JSON.stringify({ limits: DEFAULT_LIMITS })], { name: "relay" });
  const { port } = JSON.parse(await child.nextLine()) as { port: number };
  const key = new Uint8Array(Buffer.from((await (await fetch(`http://127.0.0.1:${port}/v1/key`)).text()).trim(), "base64url"));
  return {
    url: `ws://127.0.0.1:${port}`,
    key,
    ask: async <T>(line: string) => {
      child.write(line);
      return JSON.parse(await child.nextLine()) as T;
    },
    stop: child.stop,
  };
}

const connect = (relay: RelayChild, agent: string, auth = true) => TestLink.connect(relay.url, relay.key, agent, { auth });

/** Opens a channel of `creator`'s agent; `label` makes another one. */
async function openChannel(creator: TestLink, label = ""): Promise<Uint8Array> {
  const channel = testChannel(testIdentity(creator.agent), label);
  const opened = await creator.request({ type: "ChannelOpen", id: 0n, ...channel.opening });
  if (opened.type !== "Ack") throw new Error(`opening refused: ${opened.type}`);
  return channel.channel;
}

const pct = (sorted: readonly number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? Number.NaN;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const settle = (replies: Promise<Envelope>[]) => Promise.allSettled(replies);

/** The honest pair: `a` sends one message at a time, every 20 ms, until `until` says stop; `b` must get each. */
async function honest(relay: RelayChild, stop: () => boolean): Promise<{ sent: number; acked: number; delivered: number; latencies: number[] }> {
  const a = await connect(relay, "honest-a");
  const b = await connect(relay, "honest-b");
  try {
    const channel = await openChannel(a);
    await b.request({ type: "Subscribe", id: 0n, channel, fromSeq: 1n });
    const msgs = () => b.pushed.filter((e) => e.type === "Msg").length;
    const latencies: number[] = [];
    let sent = 0;
    let acked = 0;
    while (!stop()) {
      sent++;
      const started = performance.now();
      const delivered = b.waitFor(() => msgs() >= sent, 10_000).then(
        () => true,
        () => false,
      );
      const ack = await a.request({ type: "Msg", id: 0n, body: messageBody(channel, 0n, 1, 200) }).catch(() => undefined);
      if (ack?.type === "Ack") acked++;
      if ((await delivered) && ack?.type === "Ack") latencies.push(performance.now() - started);
      await sleep(HONEST_EVERY_MS);
    }
    return { sent, acked, delivered: msgs(), latencies: latencies.sort((x, y) => x - y) };
  } finally {
    a.close();
    b.close();
  }
}

/** Fills the abused channel's archive and the abuser's own inbox. */
async function prepare(relay: RelayChild, size: AbuseSize): Promise<{ mallory: TestLink; channel: Uint8Array }> {
  const mallory = await connect(relay, "mallory");
  const channel = await openChannel(mallory);
  const frames = Math.ceil(size.archiveBytes / FRAME);
  for (let at = 0; at < frames; at += 32) {
    const batch = Array.from({ length: Math.min(32, frames - at) }, (): Envelope => ({ type: "Msg", id: 0n, body: messageBody(channel, 0n, 1, FRAME) }));
    await Promise.all(mallory.requestPacked(batch, 30_000));
  }
  await fillFromMany(relay, testKeyOf("mallory"), size.inboxItems);
  return { mallory, channel };
}

/** Fills `key`'s inbox with `count` items from as many accomplices as the per-sender share needs. */
async function fillFromMany(relay: RelayChild, key: Uint8Array, count: number): Promise<void> {
  for (let k = 0; k * SENDER_SHARE < count; k++) {
    const accomplice = await connect(relay, `filler-${k}`);
    await fillInbox(accomplice, key, Math.min(SENDER_SHARE, count - k * SENDER_SHARE));
    accomplice.close();
  }
}

/** Sends `count` items of 15 KB to `key`'s inbox, 16 at a time (past the inbox's limit they are refused). */
async function fillInbox(from: TestLink, key: Uint8Array, count: number): Promise<void> {
  for (let at = 0; at < count; at += 16) {
    const items = Array.from({ length: Math.min(16, count - at) }, (_, i): Envelope => ({ type: "JoinReply", id: 0n, target: { kind: "agent", key }, from: new Uint8Array(0), payload: new Uint8Array(ITEM).fill(i) }));
    await settle(from.requestPacked(items, 30_000));
  }
}

/** One round of the mix: replay storms from fresh links, sockets without Auth; resolves when the replays are out. */
async function round(relay: RelayChild, size: AbuseSize, channel: Uint8Array, n: number): Promise<number> {
  const sockets = await Promise.allSettled(Array.from({ length: size.preAuthSockets }, () => connect(relay, "nobody", false)));
  const subscribers = await Promise.all(Array.from({ length: size.subscribers }, (_, i) => connect(relay, `sub-${n}-${i}`)));
  const inboxReaders = await Promise.all(Array.from({ length: size.inboxSubscribers }, () => connect(relay, "mallory")));
  const subscribe = Array.from({ length: size.requests }, (): Envelope => ({ type: "Subscribe", id: 0n, channel, fromSeq: 1n }));
  const inboxSubscribe = Array.from({ length: size.requests }, (): Envelope => ({ type: "InboxSubscribe", id: 0n, fromSeq: 1n }));
  const frames = Math.ceil(size.archiveBytes / FRAME);
  try {
    await Promise.all([
      ...subscribers.map(async (l) => {
        await settle(l.requestPacked(subscribe, 60_000));
        await l.waitFor((p) => p.filter((e) => e.type === "Msg").length >= frames, 60_000);
      }),
      ...inboxReaders.map(async (l) => {
        await settle(l.requestPacked(inboxSubscribe, 60_000));
        await l.waitFor((p) => p.filter((e) => e.type === "JoinReply").length >= size.inboxItems, 60_000);
      }),
    ]);
  } finally {
    [...subscribers, ...inboxReaders].forEach((l) => l.close());
    for (const s of sockets) if (s.status === "fulfilled") s.value.close();
  }
  return (size.subscribers + size.inboxSubscribers) * size.requests;
}

/** The honest pair alone (`abuse` false) or under the mix, on a fresh relay. */
export async function measureAbuse(size: AbuseSize, abuse: boolean): Promise<AbuseResult> {
  const relay = await startRelay();
  try {
    let abusiveRequests = 0;
    let preAuthSockets = 0;
    let stopped = false;
    let rounds: Promise<void> = Promise.resolve();
    if (abuse) {
      const { mallory, channel } = await prepare(relay, size);
      abusiveRequests += Math.ceil(size.archiveBytes / FRAME) + size.inboxItems;
      rounds = (async () => {
        for (let n = 0; !stopped; n++) {
          abusiveRequests += await round(relay, size, channel, n);
          preAuthSockets += size.preAuthSockets;
          if (n === 0) {
            // The flood at the honest receiver, past its inbox's limit.
            await fillInbox(mallory, testKeyOf("honest-b"), size.inboxItems + 100);
            abusiveRequests += size.inboxItems + 100;
          }
        }
        mallory.close();
      })();
    }
    const started = performance.now();
    const served = await honest(relay, () => performance.now() - started >= size.honestMs);
    stopped = true;
    await rounds;
    const { peak } = await relay.ask<{ peak: number }>("peak");
    const replays = await relay.ask<ReplayStats>("replays");
    return { peakRss: peak, sent: served.sent, acked: served.acked, delivered: served.delivered, p50: pct(served.latencies, 0.5), p99: pct(served.latencies, 0.99), replays, abusiveRequests, preAuthSockets };
  } finally {
    relay.stop();
  }
}

async function main(): Promise<void> {
  const quick = process.env.BENCH_QUICK === "1";
  const size = quick ? QUICK : FULL;
  const baseline = await measureAbuse(size, false);
  console.error(`baseline: ${JSON.stringify(baseline)}`);
  const abused = await measureAbuse(size, true);
  console.error(`abuse: ${JSON.stringify(abused)}`);
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
  const servedAll = (r: AbuseResult) => (r.acked === r.sent && r.delivered === r.sent ? "yes" : "no");
  const row = (name: string, r: AbuseResult) =>
    `| ${name} | ${mib(r.peakRss)} | ${r.sent} / ${r.acked} / ${r.delivered} | ${servedAll(r)} | ${r.p50.toFixed(1)} / ${r.p99.toFixed(1)} | ${mib(r.replays.peakBytes)} / ${(r.replays.peakLinkBytes / 1024).toFixed(0)} KiB |`;
  const text = [
    `Command: \`npm run bench:abuse\`${quick ? " (BENCH_QUICK=1)" : ""}. ${machineLine()}`,
    "",
    `A relay in its own process (SQLite, default limits, cover off). The mix: an abuser fills a channel's archive with ${mib(size.archiveBytes)} and its own inbox with ${size.inboxItems} items of 15 KB (from ${Math.ceil(size.inboxItems / SENDER_SHARE)} identities: one sender has at most ${SENDER_SHARE} items waiting in an inbox, and relay-through items leave ${DEFAULT_LIMITS.inboxWelcomeReserve} places for Welcomes); then, in rounds until the honest pair stops, ${size.subscribers} new links send ${size.requests} \`Subscribe\`s each for that channel and ${size.inboxSubscribers} send ${size.requests} \`InboxSubscribe\`s each (packed, as many to a frame as fit) and read their replays, beside ${size.preAuthSockets} sockets that never authenticate; once, ${size.inboxItems + 100} items of 15 KB from one sender to the honest receiver's inbox (${SENDER_SHARE} taken, its share; the rest refused). ${abused.abusiveRequests.toLocaleString("en")} abusive requests and ${abused.preAuthSockets.toLocaleString("en")} unauthenticated sockets in all. Meanwhile the honest pair: one link sends a 200-byte message every 20 ms for ${size.honestMs / 1000} s and waits for its Ack and the other link's copy (latency: send to both). Baseline: the honest pair alone, on a fresh relay.`,
    "",
    "| run | relay peak RSS (VmHWM) | honest sent / acked / delivered | served throughout | honest latency p50 / p99 (ms) | replays held: peak in all / per link |",
    "| --- | --- | --- | --- | --- | --- |",
    row("baseline", baseline),
    row("abuse mix", abused),
    "",
    `Peak RSS under the mix: ${(abused.peakRss / baseline.peakRss).toFixed(2)}× the baseline's; honest latency p50 ${(abused.p50 / baseline.p50).toFixed(2)}×, p99 ${(abused.p99 / baseline.p99).toFixed(2)}×. Goal (issue 13): peak RSS under 256 MiB with the honest client served throughout: ${abused.peakRss < 256 * 2 ** 20 && servedAll(abused) === "yes" ? "met" : "not met"}. Before replays streamed, 32 \`Subscribe\`s over a 16 MiB archive alone took a relay from 145 MiB to 668 MiB. The abusive links run in the same process as the honest pair and read every replay (about ${mib(size.archiveBytes * size.subscribers)} a round), so on 2 cores the honest pair's latency and message count include that process's own load, not only the relay's.`,
  ].join("\n");
  replaceSection("bench:abuse", "## Abuse: peak memory and an honest client (bench:abuse)", text);
  console.log(text);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) await main();
