// npm run bench:relay — the skytale relay (link encryption + bucket padding, cover off) against a
// plain WebSocket broadcast relay written here as the baseline, in one run. (With cover on, a
// link carries what its slots carry and no more: that cost is measured by bench:cover.) Each relay
// runs in its own process (bench/relayServerChild.ts); clients run in this one. Writes its table
// into docs/benchmarks.md between the bench:relay markers.
import { spawn, type ChildProcess } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { BENCH_CHANNEL, connectClient, messageBody, openBenchChannel, type BenchClient, type RelayKind as Kind } from "./relayBenchClient.js";
import { clientProcess as startClients } from "./relayClientProcess.js";
import { machineLine, median, replaceSection } from "./report.js";

const LABEL: Record<Kind, string> = { baseline: "plain WebSocket relay (baseline)", off: "skytale, cover off" };
const GROUP_ID = Buffer.from(BENCH_CHANNEL.channel);
const quick = process.env.BENCH_QUICK === "1";
/**
 * Set to a directory to write a CPU profile of each relay child and client process there (node --cpu-prof); such a
 * run measures throughput only, so that the profile shows the fan-out path.
 */
const profileDir = process.env.BENCH_RELAY_PROFILE;
/** Subscribers are spread over this many client processes (fewer when there are fewer subscribers). */
const SUBSCRIBER_PROCESSES = 2;
/** Throughput rounds per case and relay; the table shows the median. */
const ROUNDS = quick || profileDir !== undefined ? 1 : 3;

const body = () => messageBody(GROUP_ID);

interface Server {
  child: ChildProcess;
  url: string;
  key: Uint8Array;
  mem(): Promise<number>;
  /** CPU time (user + system, µs) the relay process has used so far. */
  cpu(): Promise<number>;
  stop(): Promise<void>;
}

async function startServer(kind: Kind): Promise<Server> {
  const profile = profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", join(profileDir, kind)];
  const child = spawn(process.execPath, ["--expose-gc", ...profile, "--import", "tsx", join(import.meta.dirname, "relayServerChild.ts"), kind], {
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const next = () => new Promise<string>((resolve) => lines.once("line", resolve));
  const ask = async (what: string) => {
    const answer = next();
    child.stdin!.write(`${what}\n`);
    return JSON.parse(await answer) as Record<string, number>;
  };
  const { port } = JSON.parse(await next()) as { port: number };
  const url = `ws://127.0.0.1:${port}`;
  const key =
    kind === "baseline" ? new Uint8Array(32) : new Uint8Array(Buffer.from((await (await fetch(`http://127.0.0.1:${port}/v1/key`)).text()).trim(), "base64url"));
  if (kind !== "baseline") await openBenchChannel(url, key);
  return {
    child,
    url,
    key,
    async mem() {
      const m = await ask("mem");
      return m.heap! + m.external!;
    },
    async cpu() {
      return (await ask("cpu")).cpu!;
    },
    stop: () =>
      new Promise<void>((resolve) => {
        child.once("exit", () => resolve());
        child.stdin!.end();
      }),
  };
}

const connect = (server: Server, kind: Kind, agent: string) => connectClient(kind, server.url, server.key, agent, GROUP_ID);

/** A client process (bench/relayClientChild.ts) of `server`. */
function clientProcess(server: Server, kind: Kind, role: "pub" | "subs", count: number, messages: number) {
  const profile = profileDir === undefined ? [] : ["--cpu-prof", "--cpu-prof-dir", join(profileDir, `${kind}-${role}`)];
  return startClients({ kind, url: server.url, key: server.key, channel: GROUP_ID }, role, count, messages, profile);
}

interface Throughput {
  msgsPerSecond: number;
  /** Relay CPU time per delivery (one message reaching one subscriber), µs. */
  cpuPerDelivery: number;
}

/**
 * One publisher process and the subscribers spread over up to SUBSCRIBER_PROCESSES processes, the
 * same layout for every relay; the clock runs from "go" until every subscriber has every message.
 */
async function throughput(server: Server, kind: Kind, subscribers: number, messages: number): Promise<Throughput> {
  const processes = Math.min(SUBSCRIBER_PROCESSES, subscribers);
  const subs = Array.from({ length: processes }, (_, i) =>
    clientProcess(server, kind, "subs", Math.floor(subscribers / processes) + (i < subscribers % processes ? 1 : 0), messages),
  );
  await Promise.all(subs.map((s) => s.reported("ready")));
  const publisher = clientProcess(server, kind, "pub", 1, messages);
  await publisher.reported("ready");
  publisher.child.send("warm");
  await Promise.all([publisher.reported("warmed"), ...subs.map((s) => s.reported("warm"))]);
  const cpuBefore = await server.cpu();
  const start = performance.now();
  publisher.child.send("go");
  await Promise.all([publisher.reported("published"), ...subs.map((s) => s.reported("done"))]);
  const seconds = (performance.now() - start) / 1000;
  const cpu = (await server.cpu()) - cpuBefore;
  await Promise.all([publisher, ...subs].map((p) => p.end()));
  return { msgsPerSecond: messages / seconds, cpuPerDelivery: cpu / (messages * subscribers) };
}

async function latency(server: Server, kind: Kind, rounds: number): Promise<{ p50: number; p99: number }> {
  const sub = await connect(server, kind, "lat-sub");
  await sub.subscribe();
  const pub = await connect(server, kind, "lat-pub");
  let arrived: (() => void) | undefined;
  sub.onReceive(() => arrived?.());
  const samples: number[] = [];
  for (let i = 0; i < rounds + 100; i++) {
    const b = body();
    const delivered = new Promise<void>((resolve) => (arrived = resolve));
    const t = performance.now();
    void pub.publish([b], 1);
    await delivered;
    if (i >= 100) samples.push(performance.now() - t);
  }
  sub.close();
  pub.close();
  samples.sort((a, b) => a - b);
  return { p50: median(samples), p99: samples[Math.floor(samples.length * 0.99)]! };
}

async function memoryPerConnection(server: Server, kind: Kind, count: number): Promise<number> {
  const before = await server.mem();
  const clients: BenchClient[] = [];
  for (let i = 0; i < count; i += 200) {
    clients.push(...(await Promise.all(Array.from({ length: Math.min(200, count - i) }, (_, k) => connect(server, kind, `idle${i + k}`)))));
  }
  await new Promise((r) => setTimeout(r, 500));
  const after = await server.mem();
  clients.forEach((c) => c.close());
  await new Promise((r) => setTimeout(r, 1000));
  return (after - before) / count;
}

/** A markdown table from rows of cells. */
function table(headers: string[], rows: string[][]): string {
  return [`| ${headers.join(" | ")} |`, `|${headers.map(() => "---").join("|")}|`, ...rows.map((r) => `| ${r.join(" | ")} |`)].join("\n");
}

async function main(): Promise<void> {
  const loadAtStart = loadavg()[0]!;
  const only = process.env.BENCH_RELAY_KINDS?.split(",") as Kind[] | undefined;
  const kinds: Kind[] = only ?? ["baseline", "off"];
  // BENCH_RELAY_PLAN=subscribers:messages,... replaces the plan (e.g. to profile one case).
  const plan = process.env.BENCH_RELAY_PLAN?.split(",").map((p) => p.split(":").map(Number) as [number, number]) ??
    (quick ? [[1, 1000], [10, 500], [100, 100]] : [[1, 10_000], [10, 4000], [100, 600]]);
  const connectionCounts = quick ? [1000] : [1000, 10_000];
  const results = new Map<Kind, { throughput: Throughput[]; p50: number; p99: number; memory: number[] }>();
  // Every relay runs from the start, and the throughput rounds take them in turn (round 1: each
  // case on each relay, then round 2, ...): load from elsewhere on the machine then falls on all of
  // them alike instead of on whichever ran at a bad moment. Each figure is the median of the rounds.
  const servers = new Map<Kind, Server>();
  for (const kind of kinds) servers.set(kind, await startServer(kind));
  const rounds = new Map<Kind, Throughput[][]>(kinds.map((k) => [k, plan.map(() => [])]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [i, [subs, messages]] of plan.entries()) {
      for (const kind of kinds) rounds.get(kind)![i]!.push(await throughput(servers.get(kind)!, kind, subs, messages));
    }
  }
  for (const kind of kinds) {
    const server = servers.get(kind)!;
    const t = rounds.get(kind)!.map((samples) => ({
      msgsPerSecond: median(samples.map((x) => x.msgsPerSecond)),
      cpuPerDelivery: median(samples.map((x) => x.cpuPerDelivery)),
    }));
    if (profileDir !== undefined) {
      await server.stop();
      console.error(`${kind}: ${JSON.stringify(t)}`);
      continue;
    }
    const lat = await latency(server, kind, quick ? 200 : 1000);
    const memory: number[] = [];
    for (const n of connectionCounts) memory.push((await memoryPerConnection(server, kind, n)) / 1024);
    await server.stop();
    results.set(kind, { throughput: t, ...lat, memory });
    console.error(`${kind}: ${JSON.stringify(results.get(kind))} rounds: ${JSON.stringify(rounds.get(kind)!.map((r) => r.map((x) => Math.round(x.msgsPerSecond))))}`);
  }
  const base = results.get("baseline");
  if (base === undefined || only !== undefined) return;
  const ratio = (v: number, b: number) => `${(v / b).toFixed(2)}×`;
  const throughputTable = table(
    ["relay", ...plan.map(([s]) => `msgs/s, ${s} sub`), ...plan.map(([s]) => `relay CPU µs/delivery, ${s} sub`)],
    kinds.map((kind) => {
      const r = results.get(kind)!;
      const rel = (i: number, f: (x: Throughput) => number) => (kind === "baseline" ? "" : ` (${ratio(f(r.throughput[i]!), f(base.throughput[i]!))})`);
      return [
        LABEL[kind],
        ...plan.map((_, i) => `${Math.round(r.throughput[i]!.msgsPerSecond)}${rel(i, (x) => x.msgsPerSecond)}`),
        ...plan.map((_, i) => `${r.throughput[i]!.cpuPerDelivery.toFixed(2)}${rel(i, (x) => x.cpuPerDelivery)}`),
      ];
    }),
  );
  const latencyTable = table(
    ["relay", "p50 ms", "p99 ms", "p50 added ms", ...connectionCounts.map((n) => `KiB/idle conn @${n}`)],
    kinds.map((kind) => {
      const r = results.get(kind)!;
      return [LABEL[kind], r.p50.toFixed(3), r.p99.toFixed(3), kind === "baseline" ? "—" : (r.p50 - base.p50).toFixed(3), ...r.memory.map((m) => m.toFixed(1))];
    }),
  );
  const text = [
    `Command: \`npm run bench:relay\`${quick ? " (BENCH_QUICK=1)" : ""}. ${machineLine()} Load average (1 min) ${loadAtStart.toFixed(1)} at the start, ${loadavg()[0]!.toFixed(1)} at the end: ${loadAtStart < 0.5 ? "the machine was otherwise idle (the end figure is mostly the benchmark's own load)" : "other work shared the two cores"}.`,
    "",
    "1 KiB messages (2020-byte MLS bodies, one 2048-byte frame each), one publisher with 64 in flight;",
    "msgs/s is messages delivered to every subscriber per second (deliveries/s = msgs/s × subscribers),",
    "ratios against the baseline in the same run. Process layout, the same for every relay: the relay in",
    "one process, the publisher in another, the subscribers spread over two more (one for a single",
    "subscriber). Each case starts with a warm-up of up to 2,000 messages, then the clock runs from the",
    "publisher's start until every subscriber has every message. The skytale clients",
    "(bench/relayBenchClient.ts) are the transport's link alone: handshake, then every frame opened and",
    "decoded with LinkCodec (the relay acknowledges a stored batch's messages in one frame per link, an",
    "`Acks`; what one turn of a process's event loop sends shares link frames, as in the",
    "transport). All processes share two cores (and whatever else the machine runs), so the",
    "clients' work still weighs on msgs/s. Relay CPU µs/delivery is process.cpuUsage of the relay process",
    "(all its threads, so skytale's checkpoint thread too) over the run, divided by messages ×",
    "subscribers: the relay's own cost, and the less noisy comparison (above 1× it costs more than the",
    `baseline). Each figure is the median of ${ROUNDS} round(s); all relays run from the start and take turns`,
    "within each round, so that load from elsewhere falls on all of them alike. When other work saturates",
    "the cores, each relay gets a slice of CPU and the msgs/s ratio drifts towards the inverse of the CPU",
    "ratio; on an idle machine the clients and the publisher's window limit both relays first.",
    "",
    throughputTable,
    "",
    "Latency: one message at a time, publish → delivery, 1 subscriber, clients in the benchmark process.",
    "Memory: relay heap + buffers after GC, per idle connection (handshake and auth done); at 1,000",
    "connections the difference is within GC noise (it can even come out negative), so read the 10,000",
    "column.",
    "",
    latencyTable,
  ].join("\n");
  console.log(text);
  replaceSection("bench:relay", "## Relay (`npm run bench:relay`)", text);
}

await main();
