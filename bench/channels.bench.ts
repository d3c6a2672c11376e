// npm run bench:channels — many channels: one agent in 1,000 channels, and one relay holding
// 10,000 channels. Each is set up here, then reopened in a fresh child process
// (bench/channelsChild.ts) that reports its start time, its time until ready (the agent: the relay
// has its Subscribe for every channel; the relay: a channel's archive replayed to a new
// subscriber) and its heap after a full GC. BENCH_QUICK=1: 50 and 500 channels.
// Writes the bench:channels section.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { pathToFileURL } from "node:url";
import { promisify } from "node:util";
import { Agent } from "../src/agent/agent.js";
import { DEFAULT_LIMITS } from "../src/relay/config.js";
import { Relay } from "../src/relay/relayServer.js";
import { DEFAULT_COVER } from "../src/wire/cover.js";
import { testChannel, testIdentity } from "../test/identity.js";
import { TestLink } from "../test/relay/testLink.js";
import { mlsMessage } from "../test/transport/helpers.js";
import { loadLine, machineLine, replaceSection } from "./report.js";
import { exitIfStuck, mib, quick, table } from "./scaleKit.js";

const CHILD = join(import.meta.dirname, "channelsChild.ts");
const run = promisify(execFile);

export interface ReopenResult {
  readonly startMs: number;
  readonly readyMs: number;
  readonly heapBytes: number;
  readonly rssBytes: number;
  readonly channels?: number;
}

async function child(args: string[]): Promise<ReopenResult> {
  const { stdout } = await run(process.execPath, ["--import", "tsx", CHILD, ...args], { maxBuffer: 1 << 20 });
  return JSON.parse(stdout.trim().split("\n").at(-1)!) as ReopenResult;
}

/** Default limits (at most 1,000 channels per connection) except the per-connection rates and the channels-opened quota, which the fill exceeds. */
function startRelay(dataDir: string): Promise<Relay> {
  return Relay.start({
    host: "127.0.0.1", port: 0, dataDir, authSecret: undefined, cover: DEFAULT_COVER.off, retentionDays: 7,
    maxChannelBytes: 1 << 30, durability: "normal",
    limits: { ...DEFAULT_LIMITS, framesPerSecond: 1_000_000, bytesPerSecond: 1 << 30, quotas: { ...DEFAULT_LIMITS.quotas, channelsOpened: 1e9 } },
    metrics: { host: "127.0.0.1", port: 0, secret: undefined },
  });
}

/** An agent with `channels` channels, created and then reopened in a fresh process. */
export async function measureAgentChannels(channels: number, dir: string): Promise<ReopenResult & { createMs: number }> {
  const relay = await startRelay(join(dir, "relay"));
  try {
    const config = { name: "many", dataDir: join(dir, "agent"), relayUrl: relay.url, relayKey: relay.relayKey.publicKey, cover: DEFAULT_COVER.off, log: () => undefined };
    const agent = await Agent.open(config);
    const t0 = performance.now();
    for (let i = 0; i < channels; i++) await agent.createChannel(`bench/many/c${i}`);
    const createMs = performance.now() - t0;
    await agent.close();
    const metricsUrl = `http://127.0.0.1:${relay.metricsPort}`;
    const result = await child(["agent", config.dataDir, relay.url, Buffer.from(relay.relayKey.publicKey).toString("base64"), String(channels), metricsUrl]);
    return { ...result, createMs };
  } finally {
    await relay.close();
  }
}

/** A body the relay archives as an MLS application message of `groupId` (its cleartext header), made unique by `n`. */
function body(groupId: Buffer, n: number): Uint8Array {
  const b = Buffer.from(mlsMessage(groupId, 0n, 1, 210, n & 0xff));
  b.writeUInt32BE(n, b.length - 4);
  return b;
}

/** A relay holding `channels` channels of `perChannel` frames each, restarted in a fresh process. */
export async function measureRelayChannels(channels: number, perChannel: number, dir: string): Promise<ReopenResult & { fillMs: number }> {
  const dataDir = join(dir, "relay");
  const relay = await startRelay(dataDir);
  // Channels opened by their creator, as the relay accepts nothing on a channel before.
  const made = Array.from({ length: channels }, (_, i) => testChannel(testIdentity("filler"), `chan ${i}`));
  const groupId = (i: number) => Buffer.from(made[i]!.channel);
  const t0 = performance.now();
  try {
    const link = await TestLink.connect(relay.url, relay.relayKey.publicKey, "filler");
    for (const { opening } of made) {
      const opened = await link.request({ type: "ChannelOpen", id: 0n, ...opening });
      if (opened.type !== "Ack") throw new Error(`opening refused: ${opened.type}`);
    }
    const total = channels * perChannel;
    const inFlight = new Set<Promise<unknown>>();
    for (let n = 0; n < total; n++) {
      const p: Promise<unknown> = link.request({ type: "Msg", id: 0n, body: body(groupId(n % channels), n) }, 60_000).then(() => inFlight.delete(p));
      inFlight.add(p);
      if (inFlight.size >= 256) await Promise.race(inFlight);
    }
    await Promise.all(inFlight);
    link.close();
  } finally {
    await relay.close();
  }
  const fillMs = performance.now() - t0;
  return { ...(await child(["relay", dataDir, groupId(channels - 1).toString("hex")])), fillMs };
}

async function main(): Promise<void> {
  const agentChannels = quick ? 50 : 1000;
  const relayChannels = quick ? 500 : 10_000;
  const perChannel = 3;
  const dir = mkdtempSync(join(tmpdir(), "skytale-bench-channels-"));
  try {
    const a = await measureAgentChannels(agentChannels, join(dir, "a"));
    if (a.channels !== agentChannels) throw new Error(`agent reopened with ${a.channels} channels, not ${agentChannels}`);
    const r = await measureRelayChannels(relayChannels, perChannel, join(dir, "r"));
    const rows = [
      {
        what: `one agent, ${agentChannels} channels`,
        "setup": `${(a.createMs / 1000).toFixed(1)} s to create them`,
        "start ms": a.startMs.toFixed(0),
        "ready ms": a.readyMs.toFixed(0),
        "heap MiB (after GC)": mib(a.heapBytes),
        "KiB per channel": (a.heapBytes / 1024 / agentChannels).toFixed(1),
        "process RSS MiB": mib(a.rssBytes),
      },
      {
        what: `one relay, ${relayChannels} channels × ${perChannel} frames`,
        "setup": `${(r.fillMs / 1000).toFixed(1)} s to fill`,
        "start ms": r.startMs.toFixed(0),
        "ready ms": r.readyMs.toFixed(0),
        "heap MiB (after GC)": mib(r.heapBytes),
        "KiB per channel": (r.heapBytes / 1024 / relayChannels).toFixed(2),
        "process RSS MiB": mib(r.rssBytes),
      },
    ];
    console.log(table(rows));
    const body = [
      `Command: \`npm run bench:channels\`${quick ? " (BENCH_QUICK=1)" : ""}. ${machineLine()} ${loadLine()}`,
      "",
      "Each is built first, then reopened in a fresh process. Agent: `Agent.open` on the data dir (cover off), start = until `open` returns, ready = until the relay has received a Subscribe for every channel (read from its /metrics); heap = growth of the agent process's heap over its state before opening, after a full GC (group states are decoded lazily, on a channel's first use). Relay: `Relay.start` on the data dir after a restart, start = until listening, ready = until a new subscriber has had one channel's archive replayed; heap = growth after a full GC (the archive stays in SQLite).",
      "",
      table(rows),
    ].join("\n");
    replaceSection("bench:channels", "## Many channels (`npm run bench:channels`)", body);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  exitIfStuck("bench:channels", 10);
  await main();
}
