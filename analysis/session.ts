// One capture session: a relay and two agents, each in its own process, alice's link through the
// observer's proxy; the plan's traces played back to back while the observer takes notes.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
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

interface Child {
  call<T>(command: Record<string, unknown>): Promise<T>;
  readonly process: ChildProcess;
}

function spawnChild(script: string, args: readonly string[], name: string, log: (line: string) => void): Child & { nextLine(): Promise<string> } {
  const proc = spawn(process.execPath, ["--import", "tsx", join(import.meta.dirname, script), ...args], { stdio: ["pipe", "pipe", "pipe"] });
  createInterface({ input: proc.stderr! }).on("line", (line) => log(`[${name}] ${line}`));
  const lines = createInterface({ input: proc.stdout! });
  const queue: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  lines.on("line", (line) => {
    const waiter = waiters.shift();
    if (waiter) waiter(line);
    else queue.push(line);
  });
  const exited = new Promise<never>((_, reject) => proc.once("exit", (code) => reject(new Error(`${name} exited (${code})`))));
  exited.catch(() => undefined);
  const next = () => Promise.race([queue.length > 0 ? Promise.resolve(queue.shift() as string) : new Promise<string>((r) => waiters.push(r)), exited]);
  let chain = Promise.resolve();
  return {
    process: proc,
    nextLine: next,
    call<T>(command: Record<string, unknown>): Promise<T> {
      const answer = chain.then(async () => {
        proc.stdin!.write(`${JSON.stringify(command)}\n`);
        const r = JSON.parse(await next()) as { ok: boolean; value: T; error?: string };
        if (!r.ok) throw new Error(`${name}: ${r.error}`);
        return r.value;
      });
      chain = answer.then(
        () => undefined,
        () => undefined,
      );
      return answer;
    },
  };
}

const wall = (performanceAt: number) => performance.timeOrigin + performanceAt;

export async function runSession(o: SessionOptions): Promise<Capture> {
  const dir = mkdtempSync(join(tmpdir(), "skytale-analysis-"));
  const stop: (() => void)[] = [];
  try {
    const relay = spawnChild("relayChild.ts", o.setting.relayFlags, "relay", o.log);
    stop.push(() => relay.process.stdin!.end());
    const { port, key } = JSON.parse(await relay.nextLine()) as { port: number; key: string };
    const tap = await startWireTap(port);
    stop.push(() => void tap.close());
    const cover = JSON.stringify(o.setting.agentCover);
    // Only alice's link goes through the observer's proxy.
    const bob = spawnChild("agentChild.ts", ["bob", `ws://127.0.0.1:${port}`, key, join(dir, "bob"), cover], "bob", o.log);
    stop.push(() => bob.process.stdin!.end());
    const alice = spawnChild("agentChild.ts", ["alice", `ws://127.0.0.1:${tap.port}`, key, join(dir, "alice"), cover], "alice", o.log);
    stop.push(() => alice.process.stdin!.end());
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
