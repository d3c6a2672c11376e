// npm run bench:cluster — the relay on its three stores, in one run: the embedded SQLite relay,
// one relay node on a single JetStream server, and three relay nodes on a three-server NATS
// cluster (streams with three replicas). 1 KiB messages, 1 and 10 subscribers: msgs/s, latency,
// the commit compare-and-set, and relay (and NATS) CPU per delivery, as ratios to SQLite. Writes
// its table into docs/benchmarks.md between the bench:cluster markers.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { NatsServer, stopAll } from "../test/fixtures/natsProcess.js";
import { testChannel, testIdentity } from "../test/identity.js";
import { BENCH_CHANNEL, connectClient, messageBody, openBenchChannel, type BenchClient } from "./relayBenchClient.js";
import { clientProcess as startClients } from "./relayClientProcess.js";
import { machineLine, median, replaceSection } from "./report.js";

type SetupKind = "sqlite" | "jetstream" | "cluster";
const LABEL: Record<SetupKind, string> = {
  sqlite: "embedded SQLite relay",
  jetstream: "1 relay node, single JetStream server",
  cluster: "3 relay nodes, 3-server cluster (R3)",
};
const GROUP_ID = Buffer.from(BENCH_CHANNEL.channel);
const quick = process.env.BENCH_QUICK === "1";
const ROUNDS = quick ? 1 : 3;
const PLAN: [number, number][] = quick ? [[1, 2000], [10, 500]] : [[1, 10_000], [10, 3000]];
const SUBSCRIBER_PROCESSES = 2;
const root = mkdtempSync(join(tmpdir(), "skytale-bench-cluster-"));

/** CPU time (µs) a process has used, from /proc (the NATS servers, which cannot be asked). */
function procCpu(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  // utime and stime, in clock ticks of 10 ms.
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

interface RelayChild {
  readonly url: string;
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

/** A relay in its own process (bench/relayServerChild.ts, cover off), on SQLite or on `nats`. */
async function relayChild(nats: string[] | undefined, keyFile: string): Promise<RelayChild> {
  const overrides = nats === undefined ? {} : { store: { kind: "nats", servers: nats, prefix: "BENCH", replicas: nats.length, credsFile: undefined }, keyFile };
  const child = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, "relayServerChild.ts"), "off", JSON.stringify(overrides)], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once("line", resolve));
  const { port } = JSON.parse(await next()) as { port: number };
  return {
    url: `ws://127.0.0.1:${port}`,
    async cpu() {
      const answer = next();
      child.stdin!.write("cpu\n");
      return (JSON.parse(await answer) as { cpu: number }).cpu;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.stdin!.end();
      }),
  };
}

interface Setup {
  readonly kind: SetupKind;
  /** The publisher's node, and the subscribers' (one per subscriber process): other nodes where there are. */
  readonly pubUrl: string;
  readonly subUrls: readonly string[];
  readonly key: Uint8Array;
  readonly processes: string;
  /** CPU µs used so far by the relay processes and by the NATS servers. */
  cpu(): Promise<{ relay: number; nats: number }>;
  stop(): Promise<void>;
}

async function setup(kind: SetupKind): Promise<Setup> {
  const keyFile = join(root, `${kind}.key`);
  writeFileSync(keyFile, randomBytes(32), { mode: 0o600 });
  const servers = kind === "sqlite" ? [] : kind === "jetstream" ? [await NatsServer.single({ dir: join(root, kind) })] : await NatsServer.cluster(3, { dir: join(root, kind) });
  const urls = servers.map((s) => s.url);
  const relays: RelayChild[] = [];
  for (let i = 0; i < Math.max(1, servers.length); i++) relays.push(await relayChild(kind === "sqlite" ? undefined : urls, keyFile));
  const key = new Uint8Array(Buffer.from((await (await fetch(`${relays[0]!.url.replace("ws:", "http:")}/v1/key`)).text()).trim(), "base64url"));
  const subUrls = relays.length === 1 ? [relays[0]!.url, relays[0]!.url] : [relays[1]!.url, relays[2]!.url];
  await openBenchChannel(relays[0]!.url, key);
  return {
    kind,
    pubUrl: relays[0]!.url,
    subUrls,
    key,
    processes: `${relays.length} relay process${relays.length > 1 ? "es" : ""}${servers.length > 0 ? ` + ${servers.length} nats-server${servers.length > 1 ? "s" : ""}` : ""}`,
    async cpu() {
      const relay = (await Promise.all(relays.map((r) => r.cpu()))).reduce((a, b) => a + b, 0);
      const nats = servers.reduce((sum, s) => sum + (s.child?.pid === undefined ? 0 : procCpu(s.child.pid)), 0);
      return { relay, nats };
    },
    async stop() {
      await Promise.all(relays.map((r) => r.stop()));
      await Promise.all(servers.map((s) => s.kill()));
    },
  };
}

/** A client process of `s` at the relay node `url`. */
function clientProcess(s: Setup, url: string, role: "pub" | "subs", count: number, messages: number) {
  return startClients({ kind: "off", url, key: s.key, channel: GROUP_ID }, role, count, messages);
}

interface Throughput {
  msgsPerSecond: number;
  /** Relay CPU µs per delivery (all relay processes), and the NATS servers' (all of them). */
  relayCpu: number;
  natsCpu: number;
}

/** One publisher on the first node, subscribers on the others: every delivery crosses nodes through NATS. */
async function throughput(s: Setup, subscribers: number, messages: number): Promise<Throughput> {
  const processes = Math.min(SUBSCRIBER_PROCESSES, subscribers);
  const subs = Array.from({ length: processes }, (_, i) => clientProcess(s, s.subUrls[i]!, "subs", Math.floor(subscribers / processes) + (i < subscribers % processes ? 1 : 0), messages));
  await Promise.all(subs.map((p) => p.reported("ready")));
  const publisher = clientProcess(s, s.pubUrl, "pub", 1, messages);
  await publisher.reported("ready");
  publisher.child.send("warm");
  await Promise.all([publisher.reported("warmed"), ...subs.map((p) => p.reported("warm"))]);
  const before = await s.cpu();
  const start = performance.now();
  publisher.child.send("go");
  await Promise.all([publisher.reported("published"), ...subs.map((p) => p.reported("done"))]);
  const seconds = (performance.now() - start) / 1000;
  const after = await s.cpu();
  await Promise.all([publisher, ...subs].map((p) => p.end()));
  const deliveries = messages * subscribers;
  return { msgsPerSecond: messages / seconds, relayCpu: (after.relay - before.relay) / deliveries, natsCpu: (after.nats - before.nats) / deliveries };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!;

/** One message at a time, publish → delivery; publisher and subscriber on different nodes where there are. */
async function latency(s: Setup, rounds: number): Promise<{ p50: number; p99: number }> {
  const sub: BenchClient = await connectClient("off", s.subUrls[0]!, s.key, "lat-sub", GROUP_ID);
  await sub.subscribe();
  const pub = await connectClient("off", s.pubUrl, s.key, "lat-pub", GROUP_ID);
  let arrived: (() => void) | undefined;
  sub.onReceive(() => arrived?.());
  const samples: number[] = [];
  for (let i = 0; i < rounds + 50; i++) {
    const delivered = new Promise<void>((resolve) => (arrived = resolve));
    const t = performance.now();
    void pub.publish([messageBody(GROUP_ID)], 1);
    await delivered;
    if (i >= 50) samples.push(performance.now() - t);
  }
  sub.close();
  pub.close();
  samples.sort((a, b) => a - b);
  return { p50: percentile(samples, 0.5), p99: percentile(samples, 0.99) };
}

/** Channels commitCas opened so far: each run takes a fresh one. */
let casChannels = 0;

/** Commits one after the other on a fresh channel, each on the epoch the last one made: GroupCommit → GroupAck. */
async function commitCas(s: Setup, rounds: number): Promise<number> {
  const { channel, opening, proof } = testChannel(testIdentity("committer"), `commit cas ${casChannels++}`);
  const client = await connectClient("off", s.pubUrl, s.key, "committer", channel);
  await client.open({ type: "ChannelOpen", id: 0n, ...opening });
  const samples: number[] = [];
  for (let epoch = 0n; epoch < BigInt(rounds + 20); epoch++) {
    // The commit and its proof are made before the clock starts: the round trip is the relay's.
    const body = messageBody(channel, epoch, 3, 400);
    const signed = proof(body, epoch);
    const t = performance.now();
    await client.commit(body, signed);
    if (epoch >= 20n) samples.push(performance.now() - t);
  }
  client.close();
  samples.sort((a, b) => a - b);
  return percentile(samples, 0.5);
}

/** The issue's goals against this run: one JetStream node at least half SQLite's msgs/s, commit CAS p50 under 5 ms on the cluster. */
function goals(nodeRatios: number[], clusterCommitMs: number): string {
  const half = nodeRatios.every((r) => r >= 0.5);
  const fast = clusterCommitMs < 5;
  return (
    `Goals: one JetStream node at least half the SQLite relay's msgs/s (${nodeRatios.map((r) => `${r.toFixed(2)}×`).join(", ")}: ${half ? "met" : "not met"}); ` +
    `commit CAS p50 under 5 ms on the three-server cluster (${clusterCommitMs.toFixed(2)} ms: ${fast ? "met" : "not met"}).`
  );
}

function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const kinds: SetupKind[] = ["sqlite", "jetstream", "cluster"];
  const setups: Setup[] = [];
  try {
    // Every setup runs from the start and the rounds take them in turn (round 1: each case on each
    // setup, then round 2, ...), so that load from elsewhere on the machine falls on all of them alike.
    for (const kind of kinds) setups.push(await setup(kind));
    const rounds = new Map<SetupKind, Throughput[][]>(kinds.map((k) => [k, PLAN.map(() => [])]));
    for (let r = 0; r < ROUNDS; r++) {
      for (const [i, [subs, messages]] of PLAN.entries()) {
        for (const s of setups) rounds.get(s.kind)![i]!.push(await throughput(s, subs, messages));
      }
    }
    const results = new Map<SetupKind, { t: Throughput[]; p50: number; p99: number; commit: number; processes: string }>();
    for (const s of setups) {
      const t = rounds.get(s.kind)!.map((samples) => ({
        msgsPerSecond: median(samples.map((x) => x.msgsPerSecond)),
        relayCpu: median(samples.map((x) => x.relayCpu)),
        natsCpu: median(samples.map((x) => x.natsCpu)),
      }));
      const lat = await latency(s, quick ? 200 : 1000);
      const commit = await commitCas(s, quick ? 100 : 500);
      results.set(s.kind, { t, ...lat, commit, processes: s.processes });
      console.error(`${s.kind}: ${JSON.stringify(results.get(s.kind))} rounds: ${JSON.stringify(rounds.get(s.kind)!.map((r) => r.map((x) => Math.round(x.msgsPerSecond))))}`);
    }
    const base = results.get("sqlite")!;
    const ratio = (v: number, b: number) => `${(v / b).toFixed(2)}×`;
    const rows = kinds.map((kind) => {
      const r = results.get(kind)!;
      const rel = (v: number, b: number) => (kind === "sqlite" ? "" : ` (${ratio(v, b)})`);
      return [
        LABEL[kind],
        ...PLAN.map((_, i) => `${Math.round(r.t[i]!.msgsPerSecond)}${rel(r.t[i]!.msgsPerSecond, base.t[i]!.msgsPerSecond)}`),
        `${r.p50.toFixed(2)} / ${r.p99.toFixed(2)}`,
        `${r.commit.toFixed(2)}${rel(r.commit, base.commit)}`,
        ...PLAN.map((_, i) => `${r.t[i]!.relayCpu.toFixed(1)}${rel(r.t[i]!.relayCpu, base.t[i]!.relayCpu)}`),
        ...PLAN.map((_, i) => (kind === "sqlite" ? "—" : r.t[i]!.natsCpu.toFixed(1))),
      ];
    });
    const text = [
      `Command: \`npm run bench:cluster\`${quick ? " (BENCH_QUICK=1)" : ""}. ${machineLine()} Load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end.`,
      "",
      "1 KiB messages (2020-byte MLS bodies), one publisher with 64 in flight, cover off, the clients of bench:relay",
      "(bench/relayBenchClient.ts). All setups run from the start and take turns within each round: SQLite is one relay process; \"1 relay node\" is one relay",
      "process and one nats-server; the cluster is three relay processes and three nats-servers (streams with three",
      "replicas, file storage). The publisher connects to the first relay node and the subscribers (spread over two",
      "processes) to the other two, so that in the cluster every delivery crosses nodes through NATS. Every process,",
      "clients included, shares the same 2 cores. msgs/s is messages delivered to every subscriber per second",
      `(median of ${ROUNDS} round(s), after a warm-up); latency is one message at a time, publish → delivery, p50 / p99 ms;`,
      "commit CAS is a GroupCommit → GroupAck round trip, commits one after another each on the epoch the last one",
      "made (p50 ms). Relay CPU is process.cpuUsage of every relay process over the run per delivery (µs); NATS CPU",
      "is /proc's user + system time of every nats-server, per delivery (µs). Ratios are against the SQLite relay.",
      "",
      table(
        [
          "setup",
          ...PLAN.map(([n]) => `msgs/s, ${n} sub`),
          "latency p50 / p99 ms",
          "commit CAS p50 ms",
          ...PLAN.map(([n]) => `relay CPU µs/delivery, ${n} sub`),
          ...PLAN.map(([n]) => `NATS CPU µs/delivery, ${n} sub`),
        ],
        rows,
      ),
      "",
      `Processes: ${kinds.map((k) => `${LABEL[k]}: ${results.get(k)!.processes}`).join("; ")}; plus the publisher, the subscriber processes and this script.`,
      "",
      goals(results.get("jetstream")!.t.map((t, i) => t.msgsPerSecond / base.t[i]!.msgsPerSecond), results.get("cluster")!.commit),
    ].join("\n");
    console.log(text);
    replaceSection("bench:cluster", "## Relay on NATS JetStream (`npm run bench:cluster`)", text);
  } finally {
    await Promise.all(setups.map((s) => s.stop().catch(() => undefined)));
    await stopAll();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
