// npm run bench:e2e — end-to-end throughput in one channel with 2 members: a sender `Agent` and a
// receiver `Agent`, each in its own process with its own SQLite data dir, and the skytale relay in a
// third (bench/relayServerChild.ts), bucket padding on; cover off, and then the default cover
// (paced links, 8 KiB/s each way) on the agents and the relay, which caps what the link carries.
// The sender calls `send` with a bounded number in flight; the receiver's `receive` returns the
// messages. Baseline in the same run and the same three-process layout: plaintext over a plain
// WebSocket broadcast relay. Writes docs/benchmarks.md (bench:e2e).
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { spawnJsonChild, type JsonChild } from "../analysis/jsonChild.js";
import { DEFAULT_COVER, type CoverConfig } from "../src/wire/cover.js";
import { machineLine, replaceSection } from "./report.js";

type Mode = "baseline" | "skytale" | "skytale-unpacked";
const quick = process.env.BENCH_QUICK === "1";
const MESSAGES = Number(process.env.BENCH_MESSAGES ?? (quick ? 3000 : 20_000));
const WARMUP = Number(process.env.BENCH_WARMUP ?? (quick ? 300 : 1000));
const WINDOW = Number(process.env.BENCH_WINDOW ?? 256);
const LATENCY_ROUNDS = quick ? 100 : 500;

/** How much one run sends: the default cover carries about 7 messages of 1 KiB a second, so it gets fewer. */
interface Plan {
  readonly messages: number;
  readonly warmup: number;
  readonly window: number;
  readonly latencyRounds: number;
}
const FULL: Plan = { messages: MESSAGES, warmup: WARMUP, window: WINDOW, latencyRounds: LATENCY_ROUNDS };
const PACED: Plan = { messages: Number(process.env.BENCH_PACED_MESSAGES ?? (quick ? 60 : 200)), warmup: 10, window: 16, latencyRounds: quick ? 10 : 40 };

/** A child of this benchmark; BENCH_PROFILE=<dir>: a CPU profile of every child (sender, receiver, relay) into that dir. */
function child(script: string, args: string[], name: string): JsonChild {
  const profile = process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : [];
  return spawnJsonChild(join(import.meta.dirname, script), args, { name, execArgv: profile });
}

function side(mode: Mode, role: "sender" | "receiver", url: string, key: string, dataDir: string, cover: CoverConfig): JsonChild {
  return child("e2eChild.ts", [mode, role, url, key, dataDir, JSON.stringify(cover)], role);
}

async function relay(mode: Mode, cover: CoverConfig): Promise<{ url: string; key: string; cpuMs(): Promise<number>; stop(): void }> {
  const relayChild = child("relayServerChild.ts", mode === "baseline" ? ["baseline"] : ["skytale", JSON.stringify(cover)], "relay");
  const { port } = JSON.parse(await relayChild.nextLine()) as { port: number };
  const url = `ws://127.0.0.1:${port}`;
  const key = mode === "baseline" ? "" : (await (await fetch(`http://127.0.0.1:${port}/v1/key`)).text()).trim();
  const cpuMs = async () => {
    relayChild.write("cpu");
    return (JSON.parse(await relayChild.nextLine()) as { cpu: number }).cpu / 1000;
  };
  return { url, key, cpuMs, stop: () => relayChild.stop() };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

interface Result {
  msgsPerSecond: number;
  loadedP50: number;
  loadedP99: number;
  idleP50: number;
  idleP99: number;
  /** Messages per MLS message under load (skytale). */
  perCarrier: number | undefined;
  outOfOrder: number;
  duplicates: number;
  /** CPU milliseconds per 1,000 messages under load, per process. */
  cpu: { sender: number; receiver: number; relay: number };
}

async function run(mode: Mode, cover: CoverConfig = DEFAULT_COVER.off, plan: Plan = FULL): Promise<Result> {
  const { messages, warmup, window, latencyRounds } = plan;
  const root = mkdtempSync(join(tmpdir(), `skytale-bench-e2e-${mode}-`));
  const r = await relay(mode, cover);
  const receiver = side(mode, "receiver", r.url, r.key, join(root, "bob"), cover);
  const sender = side(mode, "sender", r.url, r.key, join(root, "alice"), cover);
  try {
    const receiverReady = receiver.call({ op: "setup" });
    await sender.call({ op: "setup" });
    await receiverReady;
    type Got = { latencies: number[]; lastAt: number; outOfOrder: number; duplicates: number; cpuMs: number };
    type Sent = { startedAt: number; endedAt: number; cpuMs: number; carriers: number };
    const phase = async (first: number, count: number, window: number) => {
      const got = receiver.call<Got>({ op: "receive", count });
      const sent = await sender.call<Sent>({ op: "send", first, count, window });
      return { sent, got: await got };
    };
    await phase(0, warmup, window);
    const relayCpu = await r.cpuMs();
    const load = await phase(warmup, messages, window);
    const perThousand = (ms: number) => (ms * 1000) / messages;
    const cpu = { sender: perThousand(load.sent.cpuMs), receiver: perThousand(load.got.cpuMs), relay: perThousand((await r.cpuMs()) - relayCpu) };
    const loaded = [...load.got.latencies].sort((a, b) => a - b);
    // Unloaded latency: one message at a time.
    const idle: number[] = [];
    for (let i = 0; i < latencyRounds; i++) idle.push(...(await phase(warmup + messages + i, 1, 1)).got.latencies);
    idle.sort((a, b) => a - b);
    return {
      msgsPerSecond: (messages * 1000) / (load.got.lastAt - load.sent.startedAt),
      loadedP50: pct(loaded, 0.5),
      loadedP99: pct(loaded, 0.99),
      idleP50: pct(idle, 0.5),
      idleP99: pct(idle, 0.99),
      perCarrier: load.sent.carriers === 0 ? undefined : messages / load.sent.carriers,
      outOfOrder: load.got.outOfOrder,
      duplicates: load.got.duplicates,
      cpu,
    };
  } finally {
    await Promise.allSettled([sender.call({ op: "close" }), receiver.call({ op: "close" })]);
    sender.stop();
    receiver.stop();
    r.stop();
    rmSync(root, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const loadBefore = loadavg()[0]!;
  const skytale = await run("skytale");
  console.error(`skytale: ${JSON.stringify(skytale)}`);
  // BENCH_ONLY=skytale: for quick iterations on the encrypted path; writes nothing.
  if (process.env.BENCH_ONLY === "skytale") return;
  const unpacked = await run("skytale-unpacked");
  console.error(`skytale, unpacked: ${JSON.stringify(unpacked)}`);
  const baseline = await run("baseline");
  console.error(`baseline: ${JSON.stringify(baseline)}`);
  const paced = await run("skytale", DEFAULT_COVER.poisson, PACED);
  console.error(`skytale, default cover: ${JSON.stringify(paced)}`);
  const ratio = (x: Result) => ` (${(x.msgsPerSecond / baseline.msgsPerSecond).toFixed(2)}×)`;
  const row = (label: string, x: Result, ratioText: string) =>
    `| ${label} | ${x.msgsPerSecond < 100 ? x.msgsPerSecond.toFixed(1) : Math.round(x.msgsPerSecond)}${ratioText} | ${x.perCarrier === undefined ? "—" : x.perCarrier.toFixed(2)} | ${x.loadedP50.toFixed(2)} | ${x.loadedP99.toFixed(2)} | ${x.idleP50.toFixed(2)} | ${x.idleP99.toFixed(2)} | ` +
    `${Math.round(x.cpu.sender)} / ${Math.round(x.cpu.receiver)} / ${Math.round(x.cpu.relay)} | ${Math.round(2e6 / (x.cpu.sender + x.cpu.receiver + x.cpu.relay))} | ${x.outOfOrder} / ${x.duplicates} |`;
  const text = [
    `Command: \`npm run bench:e2e\`${quick ? " (BENCH_QUICK=1)" : ""}. ${machineLine()} Load average when it started: ${loadBefore.toFixed(1)}`,
    `(the machine is shared: read the CPU columns, which other work does not change much, next to msgs/s).`,
    "",
    `One channel, 2 members. ${MESSAGES} messages of 1 KiB after ${WARMUP} warm-up messages (default cover: ${PACED.messages} after ${PACED.warmup}); the sender`,
    `keeps at most ${WINDOW} (default cover: ${PACED.window}) \`send\` calls unanswered; msgs/s counts from the first send to the last`,
    "message the receiver's `receive` returned. Send → deliver is the time written into each message at",
    "`send` to the moment `receive` returned it: under that load (it includes the receiver's backlog when",
    `the sender outruns it), and one message at a time (${LATENCY_ROUNDS} rounds; default cover: ${PACED.latencyRounds}). Sender, receiver and relay each run in`,
    "their own process on the 2 cores. CPU is user + system milliseconds per 1,000 messages in each",
    "process during the loaded phase; \"2-core capacity\" is 2 cores divided by their sum, the rate the",
    "three processes could sustain on an otherwise idle machine.",
    "skytale: real `Agent`s with their own SQLite data dirs (`synchronous=FULL`, sealed at rest), MLS",
    "with bucket padding, link encryption, cover off on both agents and the relay (the throughput goal's setting), default key",
    "rotation (a self-update every 100 sent messages). Sends that overlap travel packed in one MLS",
    "message (src/mls/packedPayloads.ts: one signature, AEAD, ratchet step, stored state and frame for",
    "all, at most 15 KiB of payloads); \"per MLS message\" is sends divided by the distinct seqs they",
    "got. The unpacked row is the same agents with `packSends: false`, every send its own message (the",
    "only way before packing). One message at a time is never packed (the idle columns). Baseline: the",
    "same text, plaintext over a plain WebSocket broadcast relay with an 8-byte ack per message, no storage.",
    `Default cover: the same agents and relay with \`SKYTALE_COVER=poisson\` at its defaults (${DEFAULT_COVER.poisson.rate} frames of ${DEFAULT_COVER.poisson.cell} bytes`,
    "a second each way, on every link): what the link carries is capped at that budget, so this row is what the",
    "default allows, not what the code can do; its latencies are the cover's queueing and slot waits (a 1 KiB message is three",
    "1 KiB cells per hop; docs/benchmarks.md, bench:cover), and its CPU per message is mostly the cover's own, spread over few messages.",
    "",
    "| path | msgs/s | per MLS message | loaded p50 ms | loaded p99 ms | idle p50 ms | idle p99 ms | CPU ms per 1,000: sender / receiver / relay | 2-core capacity msgs/s | out of order / duplicates |",
    "|---|---|---|---|---|---|---|---|---|---|",
    row("plain WebSocket relay (baseline)", baseline, ""),
    row("skytale end to end", skytale, ratio(skytale)),
    row("skytale, one MLS message per send", unpacked, ratio(unpacked)),
    row(`skytale end to end, default cover (poisson ${DEFAULT_COVER.poisson.rate}/s × ${DEFAULT_COVER.poisson.cell} B)`, paced, ratio(paced)),
  ].join("\n");
  console.log(text);
  replaceSection("bench:e2e", "## End to end, one channel (`npm run bench:e2e`)", text);
}

await main();
