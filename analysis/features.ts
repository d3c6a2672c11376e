// What the attacker computes from one trace of one link, in the spirit of k-fingerprinting (Hayes
// and Danezis, USENIX Security 2016): counts, sizes, inter-arrival times, transmission-time
// quantiles, per-bin counts, bursts and their concentration, how soon one direction answers the
// other, which size follows which across directions, and how the trace's size mix differs from the
// seconds before it. Only what a passive observer sees goes in: time, direction and size of each
// WebSocket message.
import { BUCKETS } from "../src/wire/buckets.js";
import type { Direction, WireEvent } from "./wireObserver.js";

/** Bins per trace for the per-bin counts. */
const BINS = 20;
/** Frames closer than this (any direction) form a time cluster: how real traffic left before cover hid it. */
const CLUSTER_MS = 5;
/** k-fingerprinting's chunks of consecutive frames for the concentration of uplink frames. */
const CHUNK = 20;
/** Coarse size classes for transitions: 256 | 512-2048 | 4096-8192 | 16384-32768 (and anything else). */
const sizeClass = (size: number) => (size <= 256 ? 0 : size <= 2048 ? 1 : size <= 8192 ? 2 : 3);
const SIZE_CLASSES = 4;

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: readonly number[]) => (xs.length === 0 ? 0 : sum(xs) / xs.length);
function std(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return Math.sqrt(sum(xs.map((x) => (x - m) ** 2)) / xs.length);
}
/** The q-quantile of sorted xs (nearest rank), or `empty` when there are none. */
function quantile(sorted: readonly number[], q: number, empty: number): number {
  if (sorted.length === 0) return empty;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number;
}
const bucketIndex = (size: number) => {
  const i = (BUCKETS as readonly number[]).indexOf(size);
  return i < 0 ? BUCKETS.length : i;
};

/** A feature vector with names, in a fixed order. */
export class FeatureVector {
  readonly names: string[] = [];
  readonly values: number[] = [];
  add(name: string, value: number): void {
    this.names.push(name);
    this.values.push(Number.isFinite(value) ? value : 0);
  }
}

/** Times in seconds from the trace start. */
interface Frame {
  readonly t: number;
  readonly dir: Direction;
  readonly size: number;
}

function timing(v: FeatureVector, prefix: string, frames: readonly Frame[], durationS: number): void {
  const times = frames.map((f) => f.t);
  const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
  const sorted = [...gaps].sort((a, b) => a - b);
  v.add(`${prefix}.n`, frames.length);
  v.add(`${prefix}.log_bytes`, Math.log1p(sum(frames.map((f) => f.size))));
  v.add(`${prefix}.iat_min`, quantile(sorted, 0, durationS));
  v.add(`${prefix}.iat_q25`, quantile(sorted, 0.25, durationS));
  v.add(`${prefix}.iat_median`, quantile(sorted, 0.5, durationS));
  v.add(`${prefix}.iat_q75`, quantile(sorted, 0.75, durationS));
  v.add(`${prefix}.iat_max`, quantile(sorted, 1, durationS));
  v.add(`${prefix}.iat_mean`, gaps.length === 0 ? durationS : mean(gaps));
  v.add(`${prefix}.iat_std`, std(gaps));
  for (const ms of [1, 5, 20]) v.add(`${prefix}.iat_lt${ms}ms`, gaps.filter((g) => g < ms / 1000).length);
  for (const q of [0.25, 0.5, 0.75, 1]) v.add(`${prefix}.tt_q${q * 100}`, quantile(times, q, durationS));
}

function sizes(v: FeatureVector, prefix: string, frames: readonly Frame[]): void {
  const counts = new Array<number>(BUCKETS.length + 1).fill(0);
  for (const f of frames) counts[bucketIndex(f.size)]!++;
  counts.forEach((c, i) => v.add(`${prefix}.size_${BUCKETS[i] ?? "other"}`, c));
  const s = frames.map((f) => f.size);
  v.add(`${prefix}.size_mean`, mean(s));
  v.add(`${prefix}.size_std`, std(s));
  v.add(`${prefix}.size_max`, s.length === 0 ? 0 : Math.max(...s));
  v.add(`${prefix}.size_min`, s.length === 0 ? 0 : Math.min(...s));
  v.add(`${prefix}.size_distinct`, new Set(s).size);
}

function bins(v: FeatureVector, frames: readonly Frame[], durationS: number): void {
  for (const dir of ["up", "down"] as const) {
    const counts = new Array<number>(BINS).fill(0);
    const bytes = new Array<number>(BINS).fill(0);
    for (const f of frames) {
      if (f.dir !== dir) continue;
      const b = Math.min(BINS - 1, Math.floor((f.t / durationS) * BINS));
      counts[b]!++;
      bytes[b]! += f.size;
    }
    counts.forEach((c, i) => v.add(`${dir}.bin${i}`, c));
    v.add(`${dir}.bins_std`, std(counts));
    v.add(`${dir}.bins_max`, Math.max(...counts));
    v.add(`${dir}.bins_min`, Math.min(...counts));
    v.add(`${dir}.bins_empty`, counts.filter((c) => c === 0).length);
    v.add(`${dir}.binbytes_std`, std(bytes));
    v.add(`${dir}.binbytes_max`, Math.max(...bytes));
  }
}

function bursts(v: FeatureVector, frames: readonly Frame[]): void {
  // Direction runs: consecutive frames going the same way (k-fingerprinting's bursts).
  const runs: { dir: Direction; n: number; bytes: number }[] = [];
  for (const f of frames) {
    const last = runs.at(-1);
    if (last !== undefined && last.dir === f.dir) {
      last.n++;
      last.bytes += f.size;
    } else runs.push({ dir: f.dir, n: 1, bytes: f.size });
  }
  v.add("runs.n", runs.length);
  for (const dir of ["up", "down"] as const) {
    const mine = runs.filter((r) => r.dir === dir);
    v.add(`runs.${dir}_mean`, mean(mine.map((r) => r.n)));
    v.add(`runs.${dir}_max`, mine.length === 0 ? 0 : Math.max(...mine.map((r) => r.n)));
    v.add(`runs.${dir}_bytes_max`, mine.length === 0 ? 0 : Math.max(...mine.map((r) => r.bytes)));
  }
  // Time clusters: frames that leave within CLUSTER_MS of the one before, either way.
  const clusters: { n: number; bytes: number }[] = [];
  let current = { n: 0, bytes: 0 };
  let lastT = -Infinity;
  for (const f of frames) {
    if (f.t - lastT < CLUSTER_MS / 1000) {
      current.n++;
      current.bytes += f.size;
    } else {
      if (current.n >= 2) clusters.push(current);
      current = { n: 1, bytes: f.size };
    }
    lastT = f.t;
  }
  if (current.n >= 2) clusters.push(current);
  v.add("clusters.n", clusters.length);
  v.add("clusters.frames", sum(clusters.map((c) => c.n)));
  v.add("clusters.max_frames", clusters.length === 0 ? 0 : Math.max(...clusters.map((c) => c.n)));
  v.add("clusters.max_bytes", clusters.length === 0 ? 0 : Math.max(...clusters.map((c) => c.bytes)));
  // Concentration of uplink frames in chunks of CHUNK consecutive frames.
  const chunks: number[] = [];
  for (let i = 0; i < frames.length; i += CHUNK) chunks.push(frames.slice(i, i + CHUNK).filter((f) => f.dir === "up").length);
  v.add("chunks.up_mean", mean(chunks));
  v.add("chunks.up_std", std(chunks));
  v.add("chunks.up_max", chunks.length === 0 ? 0 : Math.max(...chunks));
  v.add("chunks.up_min", chunks.length === 0 ? 0 : Math.min(...chunks));
  v.add("first30.up", frames.slice(0, 30).filter((f) => f.dir === "up").length);
  v.add("last30.up", frames.slice(-30).filter((f) => f.dir === "up").length);
}

/** How soon the other direction sends after each frame of one direction (an answer, or the relay's echo). */
function reactions(v: FeatureVector, frames: readonly Frame[], durationS: number): void {
  for (const [from, to] of [
    ["up", "down"],
    ["down", "up"],
  ] as const) {
    const delays: number[] = [];
    let j = 0;
    for (const f of frames) {
      if (f.dir !== from) continue;
      while (j < frames.length && ((frames[j] as Frame).t < f.t || (frames[j] as Frame).dir !== to)) j++;
      if (j < frames.length) delays.push((frames[j] as Frame).t - f.t);
    }
    delays.sort((a, b) => a - b);
    const name = `react.${from}_${to}`;
    v.add(`${name}_min`, quantile(delays, 0, durationS));
    v.add(`${name}_q25`, quantile(delays, 0.25, durationS));
    v.add(`${name}_median`, quantile(delays, 0.5, durationS));
    v.add(`${name}_lt5ms`, delays.filter((d) => d < 0.005).length);
    v.add(`${name}_lt20ms`, delays.filter((d) => d < 0.02).length);
  }
}

/** Which (direction, size class) follows which, as shares of the trace's consecutive pairs. */
function transitions(v: FeatureVector, frames: readonly Frame[]): void {
  const state = (f: Frame) => (f.dir === "up" ? 0 : SIZE_CLASSES) + sizeClass(f.size);
  const counts = new Array<number>(4 * SIZE_CLASSES * SIZE_CLASSES).fill(0);
  for (let i = 1; i < frames.length; i++) counts[state(frames[i - 1] as Frame) * 2 * SIZE_CLASSES + state(frames[i] as Frame)]!++;
  const pairs = Math.max(1, frames.length - 1);
  counts.forEach((c, i) => {
    const a = Math.floor(i / (2 * SIZE_CLASSES));
    const b = i % (2 * SIZE_CLASSES);
    const label = (s: number) => `${s < SIZE_CLASSES ? "up" : "down"}${s % SIZE_CLASSES}`;
    v.add(`next.${label(a)}>${label(b)}`, c / pairs);
  });
}

/** The trace's size mix against the seconds before it (the same length of time). */
function againstBefore(v: FeatureVector, frames: readonly Frame[], before: readonly Frame[]): void {
  for (const dir of ["up", "down"] as const) {
    const mix = (fs: readonly Frame[]) => {
      const mine = fs.filter((f) => f.dir === dir);
      const counts = new Array<number>(BUCKETS.length + 1).fill(0);
      for (const f of mine) counts[bucketIndex(f.size)]!++;
      return { n: mine.length, bytes: sum(mine.map((f) => f.size)), share: counts.map((c) => (mine.length === 0 ? 0 : c / mine.length)) };
    };
    const now = mix(frames);
    const then = mix(before);
    now.share.forEach((s, i) => v.add(`delta.${dir}.share_${BUCKETS[i] ?? "other"}`, s - (then.share[i] as number)));
    v.add(`delta.${dir}.l1`, sum(now.share.map((s, i) => Math.abs(s - (then.share[i] as number)))));
    v.add(`delta.${dir}.n`, now.n - then.n);
    v.add(`delta.${dir}.log_bytes_ratio`, Math.log1p(now.bytes) - Math.log1p(then.bytes));
    v.add(`before.${dir}.n`, then.n);
  }
}

/**
 * The features of the trace [start, start + durationMs) of a link's events (sorted by time, wall
 * ms), with the same length of time before it as context.
 */
export function traceFeatures(events: readonly WireEvent[], start: number, durationMs: number): FeatureVector {
  const durationS = durationMs / 1000;
  const window = (from: number, to: number): Frame[] =>
    events.filter((e) => e.at >= from && e.at < to).map((e) => ({ t: (e.at - from) / 1000, dir: e.dir, size: e.size }));
  const frames = window(start, start + durationMs);
  const before = window(start - durationMs, start);
  const v = new FeatureVector();
  timing(v, "all", frames, durationS);
  for (const dir of ["up", "down"] as const) {
    const mine = frames.filter((f) => f.dir === dir);
    timing(v, dir, mine, durationS);
    sizes(v, dir, mine);
  }
  v.add("up_share", frames.length === 0 ? 0 : frames.filter((f) => f.dir === "up").length / frames.length);
  bins(v, frames, durationS);
  bursts(v, frames);
  reactions(v, frames, durationS);
  transitions(v, frames);
  againstBefore(v, frames, before);
  return v;
}
