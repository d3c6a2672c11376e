// Runs the core of each scale benchmark (bench/fanout, groupOps, channels, wireOverhead) at a tiny
// size, so the scripts cannot rot unnoticed. Shapes and correctness only: timing is never asserted.
import { describe, expect, it } from "vitest";
import { measureAgentChannels, measureRelayChannels } from "../../bench/channels.bench.js";
import { measureFanout } from "../../bench/fanout.bench.js";
import { framesFor, measureGroupOps } from "../../bench/groupOps.bench.js";
import { frameSizes, linkCost, measureMix, messageMix } from "../../bench/wireOverhead.bench.js";
import { BUCKETS } from "../../src/wire/buckets.js";
import { DEFAULT_COVER } from "../../src/wire/cover.js";
import { tempDir } from "../helpers.js";

describe("scale benchmarks (quick smoke run)", () => {
  it("fan-out: every member in every child process decrypts every message through a real relay", async () => {
    const r = await measureFanout(6, 2, 3, 4);
    expect(r.allDelivered).toBe(true);
    expect(r.decrypted).toBe(6 * 7);
    expect(r.deliveriesPerSecond).toBeGreaterThan(0);
    expect(r.latencyP99).toBeGreaterThanOrEqual(r.latencyP50);
  }, 60_000);

  it("group operations: add, remove and self-update keep committer and observer in step", async () => {
    const r = await measureGroupOps(6, 1, tempDir("skytale-bench-groupops-"));
    expect(r.inSync).toBe(true);
    for (const op of ["add", "remove", "update"] as const) {
      expect(r.samples[op]).toHaveLength(1);
      const s = r.samples[op][0]!;
      expect(s.commitBytes).toBeGreaterThan(0);
      expect(s.joinMs !== undefined).toBe(op === "add");
      expect(s.welcomeBytes !== undefined).toBe(op === "add");
    }
    expect(framesFor(100)).toBe("256");
    expect(framesFor(100_000)).toBe("4×32768");
  }, 60_000);

  it("many channels: an agent reopens with all its channels subscribed; a relay restarts on its archive", async () => {
    const agent = await measureAgentChannels(5, tempDir("skytale-bench-channels-"));
    expect(agent.channels).toBe(5);
    expect(agent.readyMs).toBeGreaterThanOrEqual(agent.startMs);
    const relay = await measureRelayChannels(20, 2, tempDir("skytale-bench-channels-"));
    expect(relay.readyMs).toBeGreaterThanOrEqual(relay.startMs);
  }, 60_000);

  it("wire overhead: the seeded mix round-trips, every frame is a bucket, bytes add up", async () => {
    const mix = messageMix(40);
    expect(messageMix(40)).toEqual(mix);
    const { tally, sizes } = await measureMix(mix);
    expect(tally.all.roundTrip).toBe(true);
    expect(sizes.every((s) => (BUCKETS as readonly number[]).includes(s))).toBe(true);
    const wire = tally.all.payload + tally.all.mls + tally.all.padding + tally.all.framing;
    expect(wire).toBe(sizes.reduce((a, b) => a + b, 0));
    expect(frameSizes(new Uint8Array(100_000)).slice(0, 3)).toEqual([32768, 32768, 32768]);
    expect(linkCost(DEFAULT_COVER.off, 10).bytesPerSecond).toBe(0);
    expect(linkCost(DEFAULT_COVER.constant, 10).framesPerSecond).toBe(32);
    // Busy or idle, a paced link sends the same frames: the mix's messages only take cover's place.
    const busy = linkCost(DEFAULT_COVER.constant, 10, messageMix(5).map((m) => new TextEncoder().encode(m.text).subarray(0, 4000)));
    expect(busy.framesPerSecond).toBe(32);
    expect(busy.bytesPerSecond).toBe(32 * 1024);
    expect(busy.realFrames).toBeGreaterThan(0);
  }, 60_000);
});
