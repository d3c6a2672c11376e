import { describe, expect, it } from "vitest";
import { MAX_GAP_REFETCHES, StreamGuard } from "../../src/agent/streamGuard.js";

const bytes = (n: number) => new Uint8Array([n]);

describe("StreamGuard", () => {
  it("holds frames past a gap until the relay acknowledged the re-fetch, then accepts a gap it does not fill", () => {
    const asked: number[] = [];
    const g = new StreamGuard((_, from) => asked.push(from));
    expect(g.admit("c", 1, 1)).toEqual({ kind: "process" });
    expect(g.admit("c", 1, 2)).toEqual({ kind: "duplicate" });
    expect(g.admit("c", 4, 2)).toEqual({ kind: "hold" }); // 2 and 3 missing: fetched again
    expect(g.admit("c", 5, 2)).toEqual({ kind: "hold" }); // in flight before the relay answered
    expect(asked).toEqual([2]);
    for (let i = 1; i < MAX_GAP_REFETCHES; i++) {
      g.subscribed("c");
      expect(g.admit("c", 4, 2)).toEqual({ kind: "hold" });
    }
    g.subscribed("c");
    expect(g.admit("c", 4, 2)).toEqual({ kind: "gap", from: 2, to: 3 });
    expect(asked).toHaveLength(MAX_GAP_REFETCHES);
  });

  it("fetches a refused frame again once; the same bytes again are a confirmed refusal, other ones are not", () => {
    const asked: number[] = [];
    const g = new StreamGuard((_, from) => asked.push(from));
    expect(g.failed("c", 7, bytes(1), false)).toEqual({ kind: "refetch" });
    expect(g.admit("c", 8, 7)).toEqual({ kind: "hold" });
    g.subscribed("c");
    expect(g.failed("c", 7, bytes(1), false)).toEqual({ kind: "refused", refetched: true, confirmed: true });
    expect(g.refused("c", 7)).toBe(true);
    expect(g.failed("c", 9, bytes(1), false)).toEqual({ kind: "refetch" });
    expect(g.failed("c", 9, bytes(2), false)).toEqual({ kind: "refused", refetched: true, confirmed: false });
    expect(asked).toEqual([7, 9]);
  });

  it("does not fetch again a channel's history from before the join (unreadable by design)", () => {
    const g = new StreamGuard(() => expect.fail("no re-fetch"));
    expect(g.failed("c", 3, bytes(1), true)).toEqual({ kind: "refused", refetched: false, confirmed: false });
  });
});
