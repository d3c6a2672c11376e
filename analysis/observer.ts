// What the passive observer extracts from the capture: frames per direction, windows, features;
// plus the sender-side labelling of real frames (never available to the observer).
import { BUCKETS } from "../src/wire/buckets.js";
import type { Capture, WsMessage } from "../test/integration/tcpCapture.js";
import { websocketMessages } from "../test/integration/tcpCapture.js";
import { mean, variance } from "./stats.js";

export interface Frame {
  readonly at: number;
  readonly payload: Buffer;
  real: boolean;
}

/** Directions in a fixed order: alice = sender, bob = subscriber. */
export const DIRECTIONS = ["alice→relay", "relay→alice", "bob→relay", "relay→bob"] as const;
export type Direction = (typeof DIRECTIONS)[number];

export interface Observed {
  readonly frames: Record<Direction, Frame[]>;
  /** Raw TCP chunks per direction, for bandwidth. */
  readonly chunks: Record<Direction, { at: number; bytes: Buffer }[]>;
  readonly handshakesOk: boolean;
}

export function observe(capture: Capture): Observed {
  const [alice, bob] = capture.connections;
  if (capture.connections.length !== 2 || alice === undefined || bob === undefined) {
    throw new Error(`expected exactly 2 connections through the proxy, saw ${capture.connections.length}`);
  }
  const chunks: Observed["chunks"] = { "alice→relay": alice.up, "relay→alice": alice.down, "bob→relay": bob.up, "relay→bob": bob.down };
  let handshakesOk = true;
  const frames = {} as Record<Direction, Frame[]>;
  for (const d of DIRECTIONS) {
    const messages: WsMessage[] = websocketMessages(chunks[d]);
    if (messages[0]?.payload.length !== 256) handshakesOk = false;
    frames[d] = messages.slice(1).map((m) => ({ at: m.at, payload: m.payload, real: false }));
  }
  return { frames, chunks, handshakesOk };
}

export const isBucket = (n: number) => (BUCKETS as readonly number[]).includes(n);

/** The first frame at or after `t` that is not labelled yet, labelled real; its time. */
function labelNext(frames: Frame[], t: number): number | undefined {
  const f = frames.find((x) => x.at >= t && !x.real);
  if (f === undefined) return undefined;
  f.real = true;
  return f.at;
}

/**
 * Labels from the sender's log: for each send (time taken just before sendMessage), the next frame
 * alice→relay is the message, and after it the next frame relay→alice (the Ack) and relay→bob (the
 * delivery). Returns how many sends could not be matched.
 */
export function labelReal(o: Observed, sentAt: readonly number[]): number {
  let unmatched = 0;
  for (const t of [...sentAt].sort((a, b) => a - b)) {
    const up = labelNext(o.frames["alice→relay"], t);
    if (up === undefined) {
      unmatched++;
      continue;
    }
    if (labelNext(o.frames["relay→alice"], up) === undefined) unmatched++;
    if (labelNext(o.frames["relay→bob"], up) === undefined) unmatched++;
  }
  return unmatched;
}

/** Per-direction features of one window: frame count, log bytes, mean and variance of inter-arrival times (s). */
export function windowFeatures(o: Observed, from: number, to: number): number[] {
  const out: number[] = [];
  for (const d of DIRECTIONS) {
    const inWindow = o.frames[d].filter((f) => f.at >= from && f.at < to);
    const times = inWindow.map((f) => f.at / 1000);
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const bytes = inWindow.reduce((s, f) => s + f.payload.length, 0);
    out.push(inWindow.length, Math.log1p(bytes), gaps.length > 0 ? mean(gaps) : (to - from) / 1000, Math.log1p(variance(gaps) * 1e6));
  }
  return out;
}

/** TCP bytes per second in [from, to) intervals for one direction. */
export function bytesPerSecond(chunks: readonly { at: number; bytes: Buffer }[], intervals: readonly [number, number][]): number {
  let bytes = 0;
  let ms = 0;
  for (const [from, to] of intervals) {
    ms += to - from;
    for (const c of chunks) if (c.at >= from && c.at < to) bytes += c.bytes.length;
  }
  return ms === 0 ? 0 : (bytes * 1000) / ms;
}
