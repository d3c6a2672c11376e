import { describe, expect, it } from "vitest";
import { backoffDelay, DEFAULT_BACKOFF } from "../../src/transport/backoff.js";
import { RelayClient } from "../../src/transport/relayClient.js";
import type { ConnectionState } from "../../src/transport/relayClient.js";
import { DEFAULT_COVER } from "../../src/wire/cover.js";
import { ManualTimers, waitFor } from "./helpers.js";
import { testIdentity } from "../identity.js";

describe("backoff", () => {
  it("grows exponentially from 250 ms, is capped at 30 s, and is fully jittered", () => {
    const top = () => 0.999999;
    expect([0, 1, 2, 3, 6, 7, 8, 50, 5000].map((a) => backoffDelay(a, top))).toEqual([249, 499, 999, 1999, 15999, 29999, 29999, 29999, 29999]);
    expect(backoffDelay(10, () => 0)).toBe(0);
    expect(backoffDelay(3, () => 0.5)).toBe(1000);
    expect(backoffDelay(3, () => 0.5, { baseMs: 10, capMs: 40 })).toBe(20);
    expect(DEFAULT_BACKOFF).toEqual({ baseMs: 250, capMs: 30_000 });
  });

  it("spreads delays over the whole range", () => {
    const draws = Array.from({ length: 2000 }, () => backoffDelay(4, Math.random));
    expect(Math.min(...draws)).toBeLessThan(400);
    expect(Math.max(...draws)).toBeGreaterThan(3600);
    expect(draws.every((d) => d >= 0 && d < 4000)).toBe(true);
  });

  it("the client waits a backoff delay between failed attempts, and close() cancels the wait", async () => {
    const timers = new ManualTimers();
    const delays: number[] = [];
    const recording = {
      setTimeout: (fn: () => void, ms: number) => {
        delays.push(ms);
        return timers.setTimeout(fn, ms);
      },
      clearTimeout: (h: unknown) => timers.clearTimeout(h),
    };
    const states: ConnectionState[] = [];
    // Port 9 (discard) on loopback is closed: every attempt is refused at once.
    const client = new RelayClient({
      url: "ws://127.0.0.1:9",
      agent: "alice", identity: testIdentity("alice"),
      relayKey: new Uint8Array(32).fill(9),
      cover: DEFAULT_COVER.off,
      timers: recording,
      random: () => 0.5,
    });
    client.on("state", ({ state, reason }) => {
      states.push(state);
      if (state === "waiting") expect(reason?.code).toBe("unreachable");
    });
    const connecting = client.connect().catch((e: unknown) => e);
    for (const expected of [125, 250, 500, 1000]) {
      await waitFor(() => delays.includes(expected));
      timers.advance(expected);
    }
    expect(states.slice(0, 4)).toEqual(["connecting", "waiting", "connecting", "waiting"]);
    await client.close();
    expect(await connecting).toMatchObject({ code: "closed" });
    expect(timers.pending).toBe(0);
  });
});
