import { describe, expect, it } from "vitest";
import { StreamBacklog } from "../../src/agent/streamBacklog.js";

describe("StreamBacklog", () => {
  it("queues up to the frame bound, then drops that stream's frames until the queue is empty", () => {
    const backlog = new StreamBacklog({ frames: 3, bytes: 1_000 });
    for (let i = 0; i < 3; i++) expect(backlog.admit("a", 10)).toEqual({ kind: "queued" });
    expect(backlog.admit("b", 10)).toEqual({ kind: "dropped", first: true });
    expect(backlog.admit("b", 10)).toEqual({ kind: "dropped", first: false });
    expect(backlog.size).toEqual({ frames: 3, bytes: 30 });
    // Room again, but b stays behind: a later frame of b applied first would break b's order.
    expect(backlog.done(1, 10)).toEqual([]);
    expect(backlog.admit("b", 10)).toEqual({ kind: "dropped", first: false });
    expect(backlog.admit("a", 10)).toEqual({ kind: "queued" });
    expect(backlog.done(3, 30)).toEqual(["b"]);
    expect(backlog.admit("b", 10)).toEqual({ kind: "queued" });
  });

  it("bounds the bytes held, and an empty queue takes any one frame", () => {
    const backlog = new StreamBacklog({ frames: 100, bytes: 100 });
    expect(backlog.admit("a", 5_000)).toEqual({ kind: "queued" });
    expect(backlog.admit("a", 1)).toEqual({ kind: "dropped", first: true });
    expect(backlog.done(1, 5_000)).toEqual(["a"]);
    expect(backlog.admit("a", 60)).toEqual({ kind: "queued" });
    expect(backlog.admit("b", 40)).toEqual({ kind: "queued" });
    expect(backlog.admit("c", 1)).toEqual({ kind: "dropped", first: true });
    expect(backlog.admit("a", 1)).toEqual({ kind: "dropped", first: true });
    expect(backlog.done(2, 100).sort()).toEqual(["a", "c"]);
    expect(backlog.size).toEqual({ frames: 0, bytes: 0 });
  });

  it("never holds more than its bounds, whatever arrives", () => {
    const backlog = new StreamBacklog({ frames: 16, bytes: 4_096 });
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    const queued: number[] = [];
    for (let step = 0; step < 20_000; step++) {
      if (next() % 3 === 0 && queued.length > 0) backlog.done(1, queued.shift()!);
      else {
        const size = next() % 2_000;
        if (backlog.admit(`s${next() % 4}`, size).kind === "queued") queued.push(size);
      }
      const { frames, bytes } = backlog.size;
      expect(frames).toBeLessThanOrEqual(16);
      expect(frames > 1 ? bytes <= 4_096 : true).toBe(true);
    }
  });

  it("refuses bounds below one", () => {
    expect(() => new StreamBacklog({ frames: 0, bytes: 10 })).toThrow(RangeError);
    expect(() => new StreamBacklog({ frames: 10, bytes: 0 })).toThrow(RangeError);
  });
});
