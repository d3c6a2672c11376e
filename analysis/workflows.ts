// The labelled workflows the attacker learns to tell apart, as two agents play them: alice (the
// agent whose link is observed) and bob (the other member of the channel). Each trace is one
// workflow for traceMs; what a role does is drawn from the trace's seed, so a plan replays exactly.
import { mulberry32 } from "./prng.js";

export const WORKFLOWS = ["chat", "tool", "bulk", "idle", "stream"] as const;
export type Workflow = (typeof WORKFLOWS)[number];
export type Role = "alice" | "bob";

export interface TracePlan {
  readonly index: number;
  readonly workflow: Workflow;
  readonly seed: number;
  /** Wall-clock ms (performance.timeOrigin + performance.now()) when the trace starts. */
  readonly startAt: number;
}

/** A message as the workflows write it: which trace and step it belongs to, padded to a size. */
export interface Note {
  readonly trace: number;
  readonly kind: "chat" | "call" | "result" | "bulk" | "tick";
  /** tool: the last result of a call. */
  readonly last?: boolean;
}

/** What a role needs from its agent. */
export interface Peer {
  /** Sends a message (resolves when the relay has stored it). */
  send(text: string): Promise<void>;
  /** The next message of trace `trace` from the other agent, or undefined if none came by `deadline` (wall ms). */
  next(trace: number, deadline: number): Promise<Note | undefined>;
  now(): number;
  sleepUntil(wallMs: number): Promise<void>;
}

const WORDS = ["status", "result", "plan", "step", "ok", "file", "diff", "error", "retry", "token", "summary", "context", "read", "write", "test", "build"];

/** A message of about `size` bytes of JSON carrying `note`. */
export function noteText(note: Note, size: number, random: () => number): string {
  let pad = "";
  const head = JSON.stringify({ ...note, pad: "" }).length;
  while (pad.length < size - head) pad += `${WORDS[Math.floor(random() * WORDS.length)]} `;
  return JSON.stringify({ ...note, pad: pad.slice(0, Math.max(0, size - head)) });
}

export function readNote(text: string): Note | undefined {
  try {
    const value = JSON.parse(text) as Partial<Note>;
    return typeof value.trace === "number" && typeof value.kind === "string" ? (value as Note) : undefined;
  } catch {
    return undefined;
  }
}

const between = (random: () => number, low: number, high: number) => low + random() * (high - low);
/** No new step starts this close to the end of a trace, so that most of its frames fall inside it. */
const TAIL_MS = 300;

/**
 * Plays `role` of the trace's workflow from plan.startAt for traceMs. Sends in flight at the end
 * are awaited (their frames may fall into the next trace, as they would for a real observer).
 * Returns how many messages this role sent.
 */
export async function play(role: Role, plan: TracePlan, traceMs: number, peer: Peer): Promise<number> {
  const random = mulberry32(plan.seed * 2 + (role === "alice" ? 0 : 1));
  const end = plan.startAt + traceMs;
  const open = () => peer.now() < end - TAIL_MS;
  const inFlight: Promise<void>[] = [];
  let sent = 0;
  const send = (note: Omit<Note, "trace">, size: number) => {
    sent++;
    return peer.send(noteText({ ...note, trace: plan.index } as Note, size, random));
  };
  await peer.sleepUntil(plan.startAt + between(random, 0, 300));
  switch (`${plan.workflow}:${role}`) {
    case "chat:alice":
    case "chat:bob": {
      // Short lines, each written after reading the other's and a moment of typing; alice opens.
      if (role === "alice" && open()) await send({ kind: "chat" }, Math.round(between(random, 20, 300)));
      while (open()) {
        if ((await peer.next(plan.index, end)) === undefined) break;
        await peer.sleepUntil(peer.now() + between(random, 300, 900));
        if (open()) await send({ kind: "chat" }, Math.round(between(random, 20, 300)));
      }
      break;
    }
    case "tool:alice": {
      // A tool call, then its 2-4 results, then the next call.
      while (open()) {
        await send({ kind: "call" }, Math.round(between(random, 200, 600)));
        let note: Note | undefined;
        do note = await peer.next(plan.index, end);
        while (note !== undefined && !note.last);
        if (note === undefined) break;
        await peer.sleepUntil(peer.now() + between(random, 200, 600));
      }
      break;
    }
    case "tool:bob": {
      while (open()) {
        if ((await peer.next(plan.index, end)) === undefined) break;
        const results = 2 + Math.floor(random() * 3);
        for (let i = 0; i < results; i++) {
          await peer.sleepUntil(peer.now() + (i === 0 ? between(random, 100, 400) : between(random, 200, 600)));
          // The last result goes even past the end, so that alice is not left waiting.
          await send({ kind: "result", last: i === results - 1 }, Math.round(between(random, 2_000, 8_000)));
        }
      }
      break;
    }
    case "bulk:alice": {
      // Large documents, one after another.
      while (open()) {
        await send({ kind: "bulk" }, Math.round(between(random, 16_000, 30_000)));
        await peer.sleepUntil(peer.now() + between(random, 0, 200));
      }
      break;
    }
    case "stream:alice": {
      // A steady stream of small updates, each sent without waiting for the one before.
      for (let at = peer.now(); at < end - TAIL_MS; at += between(random, 200, 400)) {
        await peer.sleepUntil(at);
        inFlight.push(send({ kind: "tick" }, Math.round(between(random, 60, 200))));
      }
      break;
    }
    default:
      // idle, and the roles that only listen (bob in bulk and stream): nothing to send.
      break;
  }
  await Promise.all(inFlight);
  return sent;
}

/** A plan of `perWorkflow` traces of each workflow in a seeded random order, back to back from `firstStart`. */
export function makePlan(perWorkflow: number, seed: number, firstStart: number, traceMs: number): TracePlan[] {
  const random = mulberry32(seed);
  const workflows = WORKFLOWS.flatMap((w) => Array.from({ length: perWorkflow }, () => w));
  for (let i = workflows.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [workflows[i], workflows[j]] = [workflows[j] as Workflow, workflows[i] as Workflow];
  }
  return workflows.map((workflow, index) => ({ index, workflow, seed: Math.floor(random() * 2 ** 31), startAt: firstStart + index * traceMs }));
}
