import { describe, expect, it } from "vitest";
import { traceFeatures } from "../../analysis/features.js";
import type { WireEvent } from "../../analysis/wireObserver.js";

const events: WireEvent[] = [
  // The 4 s before the trace: three small frames down.
  { at: 7_000, dir: "down", size: 256 },
  { at: 8_000, dir: "down", size: 256 },
  { at: 9_000, dir: "down", size: 256 },
  // The trace [10 s, 14 s).
  { at: 10_100, dir: "up", size: 1024 },
  { at: 10_102, dir: "down", size: 256 },
  { at: 12_000, dir: "down", size: 32768 },
  { at: 13_999, dir: "up", size: 2048 },
  // After it.
  { at: 14_000, dir: "up", size: 256 },
];

function features(list: readonly WireEvent[]) {
  const v = traceFeatures(list, 10_000, 4_000);
  return { names: v.names, get: (name: string) => v.values[v.names.indexOf(name)] };
}

describe("trace features", () => {
  it("counts, sizes, reactions, clusters and transitions of the trace only", () => {
    const f = features(events);
    expect([f.get("all.n"), f.get("up.n"), f.get("down.n")]).toEqual([4, 2, 2]);
    expect([f.get("up.size_1024"), f.get("up.size_2048"), f.get("down.size_256"), f.get("down.size_32768"), f.get("down.size_512")]).toEqual([1, 1, 1, 1, 0]);
    // The downlink answered the first uplink frame 2 ms later; the last one got no answer.
    expect(f.get("react.up_down_lt5ms")).toBe(1);
    expect(f.get("react.up_down_min")).toBeCloseTo(0.002, 6);
    expect([f.get("clusters.n"), f.get("clusters.max_frames"), f.get("clusters.max_bytes")]).toEqual([1, 2, 1280]);
    expect(f.get("up.iat_max")).toBeCloseTo(3.899, 6);
    expect(f.get("up.bin0")).toBe(1);
    expect(f.get("up.bin19")).toBe(1);
    expect(f.get("down.bin10")).toBe(1);
    // Pairs: up1024>down256, down256>down32768, down32768>up2048 (classes 1, 0, 3, 1).
    expect(f.get("next.up1>down0")).toBeCloseTo(1 / 3, 9);
    expect(f.get("next.down0>down3")).toBeCloseTo(1 / 3, 9);
    expect(f.get("next.down3>up1")).toBeCloseTo(1 / 3, 9);
  });

  it("compares the size mix with the seconds before the trace", () => {
    const f = features(events);
    expect(f.get("before.down.n")).toBe(3);
    expect(f.get("delta.down.n")).toBe(-1);
    expect(f.get("delta.down.share_256")).toBeCloseTo(-0.5, 9);
    expect(f.get("delta.down.share_32768")).toBeCloseTo(0.5, 9);
    expect(f.get("delta.down.l1")).toBeCloseTo(1, 9);
  });

  it("has the same names, and only finite values, for any trace, an empty one included", () => {
    const full = features(events);
    const empty = features([]);
    expect(empty.names).toEqual(full.names);
    expect(full.names.length).toBeGreaterThan(150);
    expect(new Set(full.names).size).toBe(full.names.length);
    expect(traceFeatures([], 0, 4000).values.every(Number.isFinite)).toBe(true);
    expect(empty.get("all.n")).toBe(0);
  });
});
