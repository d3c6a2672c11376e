// One capture session: a relay and two agents, each in its own process, alice's link through the
// observer's proxy; the plan's traces played back to back while the observer takes notes.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnJsonChild } from "./jsonChild.js";
import { startWireTap, type WireEvent } from "./wireObserver.js";
import { makePlan, type TracePlan } from "./workflows.js";

/** A cover setting as both sides take it: the agents' CoverConfig and the relay's flags. */
export interface Setting {
  readonly label: string;
  readonly agentCover: Record<string, unknown>;
  readonly relayFlags: readonly string[];
}

export interface SessionOptions {
  readonly setting: Setting;
  readonly perWorkflow: number;
  readonly traceMs: number;
  readonly seed: number;
  readonly log: (line: string) => void;
  /** Time after setup before the first trace (cover settles, the first trace has seconds before it); default 5 s. */
  readonly warmupMs?: number;
}

export interface Capture {
  readonly setting: Setting;
  readonly traceMs: number;
  /** Trace starts are wall-clock ms; event times are wall-clock ms too. */
  readonly plan: TracePlan[];
  readonly events: WireEvent[];
  /** TCP payload bytes each way per trace (WebSocket headers included). */
  readonly tcpBytes: { up: number; down: number }[];
  readonly sent: { alice: number[]; bob: number[] };
}

const wall = (performanceAt: number) => performance.timeOrigin + performanceAt;

export async function runSession(o: SessionOptions): Promise<Capture> {
  const dir = mkdtempSync(join(tmpdir(), "skytale-analysis-"));
  const stop: (() => void)[] = [];
  try {
    const child = (script: string, args: readonly string[], name: string) => spawnJsonChild(join(import.meta.dirname, script), args, { name, onStderr: (line) => o.log(`[${name}] ${line}`) });
    const relay = child("relayChild.ts", o.setting.relayFlags, "relay");
    stop.push(() => relay.stop());
    const { port, key } = JSON.parse(await relay.nextLine()) as { port: number; key: string };
    const tap = await startWireTap(port);
    stop.push(() => void tap.close());
    const cover = JSON.stringify(o.setting.agentCover);
    // Only alice's link goes through the observer's proxy.
    const bob = child("agentChild.ts", ["bob", `ws://127.0.0.1:${port}`, key, join(dir, "bob"), cover], "bob");
    stop.push(() => bob.stop());
    const alice = child("agentChild.ts", ["alice", `ws://127.0.0.1:${tap.port}`, key, join(dir, "alice"), cover], "alice");
    stop.push(() => alice.stop());
    await Promise.all([alice.call({ op: "setup" }), bob.call({ op: "setup" })]);
    const plan = makePlan(o.perWorkflow, o.seed, wall(performance.now()) + (o.warmupMs ?? 5_000), o.traceMs);
    o.log(`${o.setting.label}: ${plan.length} traces of ${o.traceMs / 1000} s`);
    const [a, b] = await Promise.all([alice.call<{ sent: number[] }>({ op: "plan", plan, traceMs: o.traceMs }), bob.call<{ sent: number[] }>({ op: "plan", plan, traceMs: o.traceMs })]);
    // Let the last trace's frames out before the link closes.
    await new Promise((r) => setTimeout(r, 1_000));
    await Promise.all([alice.call({ op: "close" }), bob.call({ op: "close" })]);
    const inTrace = (at: number, t: TracePlan) => at >= t.startAt && at < t.startAt + o.traceMs;
    const tcpBytes = plan.map((t) => ({
      up: tap.bytes.up.filter((c) => inTrace(wall(c.at), t)).reduce((s, c) => s + c.n, 0),
      down: tap.bytes.down.filter((c) => inTrace(wall(c.at), t)).reduce((s, c) => s + c.n, 0),
    }));
    return { setting: o.setting, traceMs: o.traceMs, plan, events: tap.events.map((e) => ({ ...e, at: wall(e.at) })), tcpBytes, sent: { alice: a.sent, bob: b.sent } };
  } finally {
    for (const s of stop.reverse()) s();
    rmSync(dir, { recursive: true, force: true });
  }
}
