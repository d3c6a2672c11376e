// Child process of bench/channels.bench.ts, so that start time and memory are a fresh process's.
//   agent <dataDir> <url> <relayKey b64> <channels>: opens the agent; reports when the relay has
//     seen a Subscribe for each of its channels (ready to receive on all of them).
//   relay <dataDir>: restarts a relay on an existing data dir; reports when its first channel
//     subscription (with replay) is answered.
// Prints one JSON line {startMs, readyMs, heapBytes, rssBytes} (heap after a full GC) and exits.
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Agent } from "../src/agent/agent.js";
import { DEFAULT_LIMITS } from "../src/relay/config.js";
import { Relay } from "../src/relay/relayServer.js";
import { DEFAULT_COVER } from "../src/wire/cover.js";
import { TestLink } from "../test/relay/testLink.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;
const heap = () => {
  gc();
  return process.memoryUsage().heapUsed;
};

/** The relay's count of Subscribe requests received, from GET /metrics on its metrics port. */
export async function subscribesSeen(metricsUrl: string): Promise<number> {
  const text = await (await fetch(`${metricsUrl}/metrics`)).text();
  const match = /skytale_relay_frames_in_total\{type="Subscribe"\} (\d+)/.exec(text);
  return match === null ? 0 : Number(match[1]);
}

async function agent(dataDir: string, url: string, key: string, channels: number, metricsUrl: string): Promise<void> {
  // Counted before the agent opens: its Subscribes may all be in by the time open() returns.
  const seenBefore = await subscribesSeen(metricsUrl);
  const before = heap();
  const t0 = performance.now();
  const opened = await Agent.open({ name: "many", dataDir, relayUrl: url, relayKey: new Uint8Array(Buffer.from(key, "base64")), cover: DEFAULT_COVER.off, log: () => undefined });
  const startMs = performance.now() - t0;
  while ((await subscribesSeen(metricsUrl)) < seenBefore + channels && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 5));
  const readyMs = performance.now() - t0;
  const heapBytes = heap() - before;
  process.stdout.write(`${JSON.stringify({ startMs, readyMs, heapBytes, rssBytes: process.memoryUsage().rss, channels: (await opened.channels()).length })}\n`);
  await opened.close();
}

async function relay(dataDir: string, channel: string): Promise<void> {
  const before = heap();
  const t0 = performance.now();
  const started = await Relay.start({
    host: "127.0.0.1", port: 0, dataDir, authSecret: undefined, cover: DEFAULT_COVER.off, retentionDays: 7,
    maxChannelBytes: 1 << 30, durability: "normal", limits: DEFAULT_LIMITS,
  });
  const startMs = performance.now() - t0;
  const link = await TestLink.connect(started.url, started.relayKey.publicKey, "probe");
  const ack = await link.request({ type: "Subscribe", id: 0n, channel: new Uint8Array(Buffer.from(channel, "hex")), fromSeq: 1n });
  if (ack.type !== "Ack") throw new Error("subscribe refused");
  await link.waitFor((pushed) => pushed.length >= Number((ack as { seq: bigint }).seq));
  const readyMs = performance.now() - t0;
  link.close();
  const heapBytes = heap() - before;
  process.stdout.write(`${JSON.stringify({ startMs, readyMs, heapBytes, rssBytes: process.memoryUsage().rss })}\n`);
  await started.close();
}

const [mode, dataDir, a, b, c, d] = process.argv.slice(2);
if (mode === "agent") await agent(dataDir!, a!, b!, Number(c), d!);
else if (mode === "relay") await relay(dataDir!, a!);
