// npm run bench:cover — what each cover setting costs and what it does to a message, with real
// agents (bench/e2eChild.ts: an `Agent` each, own process, SQLite and MLS) and the relay in a third
// process, all three with the same setting. Per setting:
//   - idle cost: TCP payload bytes per second each way on the sender's link (through a counting
//     proxy), over 10 s with nothing sent;
//   - latency of a chat-sized message (200 bytes of text), sent one at a time at random moments
//     (a pause of 0-500 ms after each arrives), from `send` to the other agent's `receive`; "added"
//     is the difference to cover off in the same run, p50 and p99;
//   - throughput: 1 KiB messages, at most 16 sends unanswered;
//   - the relay's CPU per idle link: 200 links that only authenticate and subscribe, over 10 s.
// BENCH_COVER_SETTINGS="off;poisson:8:1024;..." picks the settings; BENCH_QUICK=1 fewer rounds.
// Writes the bench:cover section of docs/benchmarks.md.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { spawnJsonChild, type JsonChild } from "../analysis/jsonChild.js";
import { startWireTap } from "../analysis/wireObserver.js";
import { coverBudget, DEFAULT_COVER, type CoverConfig, type CoverMode } from "../src/wire/cover.js";
import { skytaleClient, type BenchClient } from "./relayBenchClient.js";
import { machineLine, replaceSection } from "./report.js";

const quick = process.env.BENCH_QUICK === "1";
const LATENCY_ROUNDS = quick ? 20 : 150;
const IDLE_MS = quick ? 4_000 : 10_000;
const IDLE_LINKS = quick ? 50 : 200;
const CHAT_BYTES = 200;

/** "off" or "mode:rate:cell". */
function parseSetting(text: string): CoverConfig {
  const [mode, rate, cell] = text.split(":");
  if (mode === "off") return DEFAULT_COVER.off;
  return { mode: mode as CoverMode, rate: Number(rate), cell: Number(cell) };
}
const label = (c: CoverConfig) => (c.mode === "off" ? "off" : `${c.mode} ${c.rate}/s × ${c.cell} B`);
const settings = (process.env.BENCH_COVER_SETTINGS ?? `off;poisson:${DEFAULT_COVER.poisson.rate}:${DEFAULT_COVER.poisson.cell};constant:${DEFAULT_COVER.constant.rate}:${DEFAULT_COVER.constant.cell}`)
  .split(";")
  .map(parseSetting);

const child = (script: string, args: string[], name: string): JsonChild => spawnJsonChild(join(import.meta.dirname, script), args, { name });

async function startRelay(cover: CoverConfig): Promise<{ port: number; key: string; cpuUs(): Promise<number>; stop(): void }> {
  const relay = child("relayServerChild.ts", cover.mode === "off" ? ["off"] : ["skytale", JSON.stringify(cover)], "relay");
  const { port } = JSON.parse(await relay.nextLine()) as { port: number };
  const key = (await (await fetch(`http://127.0.0.1:${port}/v1/key`)).text()).trim();
  const cpuUs = async () => {
    relay.write("cpu");
    return (JSON.parse(await relay.nextLine()) as { cpu: number }).cpu;
  };
  return { port, key, cpuUs, stop: relay.stop };
}

const pct = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Result {
  readonly cover: CoverConfig;
  readonly idleUp: number;
  readonly idleDown: number;
  readonly p50: number;
  readonly p99: number;
  readonly msgsPerSecond: number;
  readonly relayCpuPerLink: number;
}

async function measure(cover: CoverConfig): Promise<Result> {
  const root = mkdtempSync(join(tmpdir(), "skytale-bench-cover-"));
  const relay = await startRelay(cover);
  const tap = await startWireTap(relay.port);
  const agent = (role: "sender" | "receiver", url: string) => child("e2eChild.ts", ["skytale", role, url, relay.key, join(root, role), JSON.stringify(cover)], role);
  const receiver = agent("receiver", `ws://127.0.0.1:${relay.port}`);
  const sender = agent("sender", `ws://127.0.0.1:${tap.port}`);
  try {
    await Promise.all([receiver.call({ op: "setup" }), sender.call({ op: "setup" })]);
    await sleep(2_000);
    // Idle cost on the sender's link.
    const from = performance.now();
    await sleep(IDLE_MS);
    const to = performance.now();
    const rate = (chunks: { at: number; n: number }[]) => (chunks.filter((c) => c.at >= from && c.at < to).reduce((s, c) => s + c.n, 0) * 1000) / (to - from);
    const idleUp = rate(tap.bytes.up);
    const idleDown = rate(tap.bytes.down);
    // Latency of chat-sized messages, one at a time at random moments.
    type Got = { latencies: number[]; lastAt: number };
    type Sent = { startedAt: number };
    const phase = async (first: number, count: number, window: number, bytes: number) => {
      const got = receiver.call<Got>({ op: "receive", count });
      const sent = await sender.call<Sent>({ op: "send", first, count, window, bytes });
      return { sent, got: await got };
    };
    const latencies: number[] = [];
    for (let i = 0; i < LATENCY_ROUNDS; i++) {
      latencies.push(...(await phase(i, 1, 1, CHAT_BYTES)).got.latencies);
      await sleep(Math.random() * 500);
    }
    latencies.sort((a, b) => a - b);
    // Throughput of 1 KiB messages: about 15 s of what the budget carries (3,000 with cover off).
    const count = cover.mode === "off" ? 3_000 : Math.max(40, Math.min(3_000, Math.round((coverBudget(cover) / 1100) * 15)));
    const load = await phase(LATENCY_ROUNDS, count, 16, 1024);
    const msgsPerSecond = (count * 1000) / (load.got.lastAt - load.sent.startedAt);
    return { cover, idleUp, idleDown, p50: pct(latencies, 0.5), p99: pct(latencies, 0.99), msgsPerSecond, relayCpuPerLink: await relayCpuPerIdleLink(cover) };
  } finally {
    await Promise.allSettled([sender.call({ op: "close" }), receiver.call({ op: "close" })]);
    sender.stop();
    receiver.stop();
    relay.stop();
    await tap.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** Relay CPU µs per second per idle link (authenticated, subscribed to a channel, sending nothing). */
async function relayCpuPerIdleLink(cover: CoverConfig): Promise<number> {
  const relay = await startRelay(cover);
  const key = new Uint8Array(Buffer.from(relay.key, "base64url"));
  const links: BenchClient[] = [];
  try {
    for (let i = 0; i < IDLE_LINKS; i++) {
      const link = await skytaleClient(`ws://127.0.0.1:${relay.port}`, key, `idle-${i}`, randomBytes(12));
      await link.subscribe();
      links.push(link);
    }
    await sleep(1_000);
    const before = await relay.cpuUs();
    await sleep(IDLE_MS);
    return ((await relay.cpuUs()) - before) / (IDLE_LINKS * (IDLE_MS / 1000));
  } finally {
    links.forEach((l) => l.close());
    relay.stop();
  }
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0] ?? 0;
  const results: Result[] = [];
  for (const cover of settings) {
    const r = await measure(cover);
    console.error(`${label(cover)}: ${JSON.stringify({ ...r, cover: undefined })}`);
    results.push(r);
  }
  const off = results.find((r) => r.cover.mode === "off");
  const added = (v: number, base: number | undefined) => (base === undefined ? "—" : (v - base).toFixed(0));
  const kib = (b: number) => `${(b / 1024).toFixed(2)} KiB/s`;
  const rows = results.map(
    (r) =>
      `| ${label(r.cover)} | ${r.cover.mode === "off" ? "0" : kib(coverBudget(r.cover))} | ${kib(r.idleUp)} / ${kib(r.idleDown)} | ${r.p50.toFixed(0)} / ${r.p99.toFixed(0)} | ${added(r.p50, off?.p50)} / ${added(r.p99, off?.p99)} | ${r.msgsPerSecond.toFixed(1)} | ${r.relayCpuPerLink.toFixed(0)} |`,
  );
  const text = [
    `Command: \`npm run bench:cover\`${quick ? " (BENCH_QUICK=1)" : ""}. ${machineLine()} Load average when it started: ${loadBefore.toFixed(1)} (2 cores, shared).`,
    "",
    "Real agents (`Agent`, own process, SQLite data dir, MLS) and the relay in a third process, all with the",
    "setting of the row. Idle cost: TCP payload bytes per second each way on the sender's link (WebSocket",
    `headers included, TCP/IP headers not) over ${IDLE_MS / 1000} s with nothing sent. Latency: a ${CHAT_BYTES}-byte chat message sent`,
    `one at a time (${LATENCY_ROUNDS} rounds, a random pause of 0-0.5 s after each arrives), from \`send\` to the other agent's`,
    "`receive`: it waits for the sender's slots, then for the relay's slots towards the receiver; \"added\" is",
    "the difference to cover off in the same run. Throughput: 1 KiB messages with at most 16 `send`s",
    "unanswered, about 15 s of what the budget carries; every link also carries its owner's own copy of",
    `each message back. Relay CPU: ${IDLE_LINKS} links that authenticate, subscribe and stay idle, relay process`,
    "CPU (user + system) per link per second: a relay's cover cost grows with its links (1,000 µs per",
    "link-second is one core per 1,000 idle links).",
    "",
    "| setting | budget each way | idle cost up / down | chat latency p50 / p99 ms | added p50 / p99 ms | 1 KiB msgs/s | relay CPU µs per idle link-second |",
    "|---|---|---|---|---|---|---|",
    ...rows,
  ].join("\n");
  console.log(text);
  replaceSection("bench:cover", "## Cover traffic: cost, latency and throughput per setting (`npm run bench:cover`)", text);
}

await main();
