// A relay under test for the benchmarks, in its own process: "baseline" is a plain WebSocket
// broadcast relay (no encryption, no padding, no storage ordering); "off" is the skytale relay
// with cover off (a JSON second argument overrides config fields: a JetStream store for
// bench/cluster.bench.ts), and "skytale" one with the JSON CoverConfig of the second argument.
// Prints {"port": N} once listening; answers "mem" on stdin with its memory after a full GC,
// "cpu" with the CPU time it has used (µs), "peak" with its peak and current RSS (VmHWM and VmRSS,
// bytes, no GC) and "replays" with what the relay's replays hold (Relay.replays.stats).
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { WebSocketServer, type WebSocket } from "ws";
import { DEFAULT_LIMITS, type RelayConfig } from "../src/relay/config.js";
import { Relay } from "../src/relay/relayServer.js";
import { coverProblem, DEFAULT_COVER, type CoverConfig } from "../src/wire/cover.js";

const kind = process.argv[2] as "baseline" | "off" | "skytale";
const cover: CoverConfig = kind === "skytale" ? (JSON.parse(process.argv[3] ?? "{}") as CoverConfig) : DEFAULT_COVER.off;
if (coverProblem(cover) !== undefined) throw new Error(`bad cover for the relay: ${coverProblem(cover)}`);
/** With "off": JSON of RelayConfig fields to override (the store and key file of a JetStream node, for bench/cluster.bench.ts). */
const overrides = kind === "off" && process.argv[3] !== undefined ? (JSON.parse(process.argv[3]) as Partial<RelayConfig>) : {};
const dir = mkdtempSync(join(tmpdir(), "skytale-bench-relay-"));

async function startBaseline(): Promise<number> {
  const wss = new WebSocketServer({ host: "127.0.0.1", port: 0, perMessageDeflate: false });
  const subscribers = new Set<WebSocket>();
  const ack = Buffer.alloc(8);
  wss.on("connection", (ws) => {
    ws.on("message", (data: Buffer, isBinary) => {
      if (!isBinary) {
        subscribers.add(ws);
        ws.send("subscribed");
        return;
      }
      for (const s of subscribers) s.send(data);
      ws.send(ack);
    });
    ws.on("close", () => subscribers.delete(ws));
  });
  await new Promise((r) => wss.once("listening", r));
  return (wss.address() as { port: number }).port;
}

async function startSkytale(): Promise<{ port: number; relay: Relay }> {
  const relay = await Relay.start({
    host: "127.0.0.1",
    port: 0,
    dataDir: dir,
    authSecret: undefined,
    cover,
    retentionDays: 7,
    maxChannelBytes: 1 << 30,
    durability: "normal",
    limits: { ...DEFAULT_LIMITS, maxConnections: 20_000, framesPerSecond: 1_000_000, bytesPerSecond: 1 << 30, quotas: { ...DEFAULT_LIMITS.quotas, archiveBytes: 2 ** 50 } },
    ...overrides,
  });
  return { port: relay.port, relay };
}

const gc = (globalThis as { gc?: () => void }).gc;
const skytale = kind === "baseline" ? undefined : await startSkytale();
const port = skytale?.port ?? (await startBaseline());
process.stdout.write(`${JSON.stringify({ port })}\n`);
/** A line of /proc/self/status in bytes (Linux). */
const status = (field: string) => Number(/(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(`${field}:`)) ?? "")?.[1] ?? NaN) * 1024;
createInterface({ input: process.stdin }).on("line", (line) => {
  if (line === "peak") {
    process.stdout.write(`${JSON.stringify({ peak: status("VmHWM"), rss: status("VmRSS") })}\n`);
    return;
  }
  if (line === "replays") {
    process.stdout.write(`${JSON.stringify(skytale?.relay.replays.stats() ?? {})}\n`);
    return;
  }
  if (line === "cpu") {
    const { user, system } = process.cpuUsage();
    process.stdout.write(`${JSON.stringify({ cpu: user + system })}\n`);
    return;
  }
  if (line !== "mem") return;
  gc?.();
  const m = process.memoryUsage();
  process.stdout.write(`${JSON.stringify({ rss: m.rss, heap: m.heapUsed, external: m.external + m.arrayBuffers })}\n`);
});
process.stdin.on("end", () => {
  rmSync(dir, { recursive: true, force: true });
  process.exit(0);
});
