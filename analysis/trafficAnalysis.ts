// Traffic analysis of the client↔relay wire as a passive observer sees it, in each cover mode.
// Usage: npm run analysis [-- --periods 12 --period-ms 5000 --seed 7 --out docs/security.md]
import { parseArgs } from "node:util";
import { parseRelayConfig } from "../src/relay/config.js";
import { Relay } from "../src/relay/relayServer.js";
import { MemoryOutbox } from "../src/transport/outbox.js";
import { RelayClient } from "../src/transport/relayClient.js";
import type { CoverMode } from "../src/wire/cover.js";
import { startCapture } from "../test/integration/tcpCapture.js";
import { identityOf, pairInChannel, removeTempDirs, tempDir, type Agent, type ChannelHistory } from "./agents.js";
import { crossValidate, type Sample } from "./classifier.js";
import { bytesPerSecond, DIRECTIONS, isBucket, labelReal, observe, windowFeatures, type Frame } from "./observer.js";
import { renderReport, writeReport, type ModeResult, type RunInfo } from "./report.js";
import { buildScript, isActivePeriod, type ScriptParams } from "./script.js";
import { byteHistogram, chiSquareTwoSample, chiSquareUniform, wilson } from "./stats.js";
import { BUCKETS } from "../src/wire/buckets.js";

const CHANNEL = "acme/analysis/traffic";
const WARMUP_MS = 1000;
const WINDOW_MS = 1000;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

const { values } = parseArgs({
  options: {
    periods: { type: "string", default: "12" },
    "period-ms": { type: "string", default: "5000" },
    "mean-gap-ms": { type: "string", default: "333" },
    seed: { type: "string", default: "20250101" },
    "poisson-rate": { type: "string", default: "10" },
    "constant-rate": { type: "string", default: "20" },
    out: { type: "string", default: "docs/security.md" },
  },
});
const script: ScriptParams = {
  seed: Number(values.seed),
  periods: Number(values.periods),
  periodMs: Number(values["period-ms"]),
  meanGapMs: Number(values["mean-gap-ms"]),
  largeShare: 0.15,
};
const rates: Record<CoverMode, number> = { off: 0, poisson: Number(values["poisson-rate"]), constant: Number(values["constant-rate"]) };

async function runMode(mode: CoverMode, sender: Agent, receiver: Agent, groupId: Uint8Array, history: ChannelHistory): Promise<ModeResult> {
  const rate = rates[mode];
  const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", tempDir("skytale-analysis-relay-"), "--cover", mode, "--cover-rate", String(rate)], {}), { log: () => {} });
  const capture = await startCapture(relay.port);
  const client = (agent: Agent) =>
    new RelayClient({ url: `ws://127.0.0.1:${capture.port}`, agent: agent.name, identity: identityOf(agent), relayKey: relay.relayKey.publicKey, outbox: new MemoryOutbox(), cover: { mode, rate } });
  const alice = client(sender);
  const bob = client(receiver);
  let delivered = 0;
  bob.on("channel", () => delivered++);
  await alice.connect();
  await bob.connect();
  await alice.openChannel(history.opening);
  await alice.sendCommit(history.add.commit, undefined, history.add.proof);
  await bob.subscribe(groupId, 2n);

  // MLS messages are made before the clock starts, in send order, so encryption does not shift timing.
  const messages = buildScript(script);
  const bodies: Uint8Array[] = [];
  for (const m of messages) bodies.push(await sender.mls.encrypt(CHANNEL, new TextEncoder().encode(m.text)));
  await sleep(WARMUP_MS);

  const t0 = performance.now();
  const sentAt: number[] = [];
  const pending: Promise<unknown>[] = [];
  let failed = 0;
  for (const [i, m] of messages.entries()) {
    await sleep(t0 + m.atMs - performance.now());
    sentAt.push(performance.now());
    pending.push(alice.sendMessage(bodies[i]!).catch(() => failed++));
  }
  const totalMs = script.periods * script.periodMs;
  await sleep(t0 + totalMs - performance.now());
  await Promise.all(pending);
  for (let i = 0; i < 100 && delivered < messages.length; i++) await sleep(50);
  await alice.close();
  await bob.close();
  await capture.close();
  await relay.close();

  const o = observe(capture);
  const unmatched = labelReal(o, sentAt);
  const all: Frame[] = DIRECTIONS.flatMap((d) => o.frames[d]);
  const inRun = all.filter((f) => f.at >= t0);
  const real = inRun.filter((f) => f.real);
  const cover = inRun.filter((f) => !f.real);
  const sizeHistogram = (fs: Frame[]) => BUCKETS.map((b) => fs.filter((f) => f.payload.length === b).length);
  // Sizes are compared only where messages travel (alice→relay, relay→bob): Acks and bob's uplink would confound them.
  const carrying = [...o.frames["alice→relay"], ...o.frames["relay→bob"]].filter((f) => f.at >= t0);
  const carryingCover = carrying.filter((f) => !f.real);

  const samples: Sample[] = [];
  for (let w = 0; w * WINDOW_MS < totalMs; w++) {
    const from = t0 + w * WINDOW_MS;
    samples.push({ features: windowFeatures(o, from, from + WINDOW_MS), label: isActivePeriod(Math.floor((w * WINDOW_MS) / script.periodMs)) ? 1 : 0 });
  }
  const cv = crossValidate(samples, 5, script.seed);
  const idle: [number, number][] = [];
  for (let p = 0; p < script.periods; p++) if (!isActivePeriod(p)) idle.push([t0 + p * script.periodMs, t0 + (p + 1) * script.periodMs]);

  return {
    mode,
    rate,
    sent: messages.length,
    delivered,
    failed,
    unmatched,
    handshakesOk: o.handshakesOk,
    frames: all.length,
    bucketFrames: all.filter((f) => isBucket(f.payload.length)).length,
    uniform: chiSquareUniform(byteHistogram(all.map((f) => f.payload))),
    realFrames: real.length,
    coverFrames: cover.length,
    realVsCoverBytes: cover.length > 0 ? chiSquareTwoSample(byteHistogram(real.map((f) => f.payload)), byteHistogram(cover.map((f) => f.payload))) : undefined,
    realVsCoverSizes: carryingCover.length > 0 ? chiSquareTwoSample(sizeHistogram(carrying.filter((f) => f.real)), sizeHistogram(carryingCover)) : undefined,
    accuracy: { correct: cv.correct, n: cv.n, ...wilson(cv.correct, cv.n) },
    idleBytesPerSecond: Object.fromEntries(DIRECTIONS.map((d) => [d, bytesPerSecond(o.chunks[d], idle)])) as ModeResult["idleBytesPerSecond"],
  };
}

async function main(): Promise<void> {
  const started = new Date();
  const { sender, receiver, groupId, history } = await pairInChannel(CHANNEL);
  const results: ModeResult[] = [];
  for (const mode of ["off", "poisson", "constant"] as const) {
    process.stderr.write(`running cover mode ${mode} (${((script.periods * script.periodMs) / 1000).toFixed(0)} s)...\n`);
    results.push(await runMode(mode, sender, receiver, groupId, history));
  }
  const info: RunInfo = { started, finished: new Date(), command: `npm run analysis${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`, script, windowMs: WINDOW_MS, warmupMs: WARMUP_MS };
  const report = renderReport(info, results);
  process.stdout.write(report);
  writeReport(values.out, report);
  process.stderr.write(`results written to ${values.out}\n`);
  removeTempDirs();
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  removeTempDirs();
  process.exit(1);
});
