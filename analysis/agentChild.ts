// One agent of the traffic analysis in its own process: a real `Agent` (MLS, its own SQLite data
// dir, the relay link with its cover traffic), so that everything the agent does runs on its own
// clock, as it would for a user. Commands arrive as JSON lines on stdin, one JSON answer line each.
//   argv: name (alice | bob), relay URL, relay key (base64url), data dir, cover config (JSON)
import { createInterface } from "node:readline";
import { Agent } from "../src/agent/agent.js";
import type { CoverConfig } from "../src/wire/cover.js";
import { announceDid, createWithPeer } from "./peerIdentity.js";
import { play, readNote, type Note, type Role, type TracePlan } from "./workflows.js";

const [name, url, keyB64, dataDir, coverJson] = process.argv.slice(2) as [Role, string, string, string, string];
const CHANNEL = "acme/analysis/traffic";
const wall = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));

const agent = await Agent.open({
  name,
  dataDir,
  relayUrl: url,
  relayKey: new Uint8Array(Buffer.from(keyB64, "base64url")),
  cover: JSON.parse(coverJson) as CoverConfig,
  directoryAdds: "all",
  log: (line) => process.stderr.write(`${name}: ${line}\n`),
});

/** Messages from the other agent, read as they come, waiting for a role to take them. */
const received: Note[] = [];
let wake: (() => void) | undefined;
let closing = false;

async function readLoop(): Promise<void> {
  while (!closing) {
    const { messages } = await agent.receive({ channel: CHANNEL, waitMs: 500, maxMessages: 100 });
    for (const m of messages) {
      const note = m.sender === name ? undefined : readNote(m.message);
      if (note !== undefined) received.push(note);
    }
    if (messages.length > 0) wake?.();
  }
}

const peer = {
  async send(text: string) {
    await agent.send(CHANNEL, text);
  },
  async next(trace: number, deadline: number): Promise<Note | undefined> {
    for (;;) {
      // Notes of earlier traces are late answers nobody waits for any more.
      while (received.length > 0 && (received[0] as Note).trace < trace) received.shift();
      if (received.length > 0) return received.shift();
      const left = deadline - wall();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  },
  now: wall,
  sleepUntil: (at: number) => sleep(at - wall()),
};

async function setup(): Promise<void> {
  if (name === "bob") {
    announceDid(dataDir, "bob", agent.identity.did);
    const deadline = Date.now() + 60_000;
    while (!(await agent.channels()).some((c) => c.channel === CHANNEL)) {
      if (Date.now() > deadline) throw new Error("not added to the channel within 60 s");
      await sleep(50);
    }
  } else {
    await createWithPeer(agent, dataDir, CHANNEL, "bob");
  }
  void readLoop().catch((e: unknown) => process.stderr.write(`${name}: receive loop failed: ${String(e)}\n`));
}

async function runPlan(plan: TracePlan[], traceMs: number): Promise<{ sent: number[] }> {
  const sent: number[] = [];
  for (const trace of plan) sent.push(await play(name, trace, traceMs, peer));
  return { sent };
}

const lines = createInterface({ input: process.stdin });
lines.on("line", (line) => {
  const command = JSON.parse(line) as { op: "setup" } | { op: "plan"; plan: TracePlan[]; traceMs: number } | { op: "close" };
  const run = async (): Promise<unknown> => {
    if (command.op === "setup") return setup();
    if (command.op === "plan") return runPlan(command.plan, command.traceMs);
    closing = true;
    await agent.close();
    lines.close();
    return undefined;
  };
  run().then(
    (value) => process.stdout.write(`${JSON.stringify({ ok: true, value: value ?? null })}\n`),
    (error: unknown) => process.stdout.write(`${JSON.stringify({ ok: false, error: String((error as Error).stack ?? error) })}\n`),
  );
});
