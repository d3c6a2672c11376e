import { describe, expect, it } from "vitest";
import { StreamBacklog } from "../../src/agent/streamBacklog.js";

describe("StreamBacklog", () => {
  it("queues up to the frame bound, then drops that stream's frames until it is fetched again", () => {
    const backlog = new StreamBacklog({ frames: 3, bytes: 1_000 });
    for (let i = 0; i < 3; i++) expect(backlog.admit("a", 10)).toEqual({ kind: "queued" });
    expect(backlog.admit("b", 10)).toEqual({ kind: "dropped", first: true });
    expect(backlog.admit("b", 10)).toEqual({ kind: "dropped", first: false });
    expect(backlog.size).toEqual({ frames: 3, bytes: 30 });
    // b has nothing queued: as soon as there is room it is fetched again, and takes frames again.
    expect(backlog.done("a", 1, 10)).toEqual(["b"]);
    expect(backlog.admit("b", 10)).toEqual({ kind: "queued" });
    expect(backlog.size).toEqual({ frames: 3, bytes: 30 });
  });

  it("a stream that fell behind with frames still queued waits for them, not for the whole queue", () => {
    const backlog = new StreamBacklog({ frames: 4, bytes: 1_000 });
    expect(backlog.admit("a", 10)).toEqual({ kind: "queued" });
    for (let i = 0; i < 3; i++) expect(backlog.admit("busy", 10)).toEqual({ kind: "queued" });
    expect(backlog.admit("a", 10)).toEqual({ kind: "dropped", first: true });
    // Room again, but a's queued frame is not applied yet: fetching from a's cursor would repeat it.
    expect(backlog.done("busy", 1, 10)).toEqual([]);
    expect(backlog.admit("a", 10)).toEqual({ kind: "dropped", first: false });
    expect(backlog.admit("busy", 10)).toEqual({ kind: "queued" });
    // a's frame is applied while "busy" still fills the queue: a waits for room, then resumes.
    expect(backlog.admit("busy", 10)).toEqual({ kind: "dropped", first: true });
    expect(backlog.done("a", 1, 10)).toEqual(["a"]);
    expect(backlog.done("busy", 3, 30)).toEqual(["busy"]);
    expect(backlog.size).toEqual({ frames: 0, bytes: 0 });
  });

  it("bounds the bytes held, and an empty queue takes any one frame", () => {
    const backlog = new StreamBacklog({ frames: 100, bytes: 100 });
    expect(backlog.admit("a", 5_000)).toEqual({ kind: "queued" });
    expect(backlog.admit("a", 1)).toEqual({ kind: "dropped", first: true });
    expect(backlog.done("a", 1, 5_000)).toEqual(["a"]);
    expect(backlog.admit("a", 60)).toEqual({ kind: "queued" });
    expect(backlog.admit("b", 40)).toEqual({ kind: "queued" });
    expect(backlog.admit("c", 1)).toEqual({ kind: "dropped", first: true });
    expect(backlog.admit("a", 1)).toEqual({ kind: "dropped", first: true });
    // 60 bytes left after b's 40 go: room, and c has nothing queued; a still has its frame.
    expect(backlog.done("b", 1, 40)).toEqual(["c"]);
    expect(backlog.done("a", 1, 60)).toEqual(["a"]);
    expect(backlog.size).toEqual({ frames: 0, bytes: 0 });
  });

  it("never holds more than its bounds, and every stream that fell behind is fetched again once it drains", () => {
    const backlog = new StreamBacklog({ frames: 16, bytes: 4_096 });
    let seed = 7;
    const next = () => (seed = (seed * 1_103_515_245 + 12_345) % 2 ** 31);
    const queued: [string, number][] = [];
    const behind = new Set<string>();
    const drain = () => {
      const [stream, size] = queued.shift()!;
      for (const s of backlog.done(stream, 1, size)) behind.delete(s);
    };
    for (let step = 0; step < 20_000; step++) {
      if (next() % 3 === 0 && queued.length > 0) drain();
      else {
        const size = next() % 2_000;
        const stream = `s${next() % 4}`;
        const admission = backlog.admit(stream, size);
        if (admission.kind === "queued") queued.push([stream, size]);
        else behind.add(stream);
      }
      const { frames, bytes } = backlog.size;
      expect(frames).toBeLessThanOrEqual(16);
      expect(frames > 1 ? bytes <= 4_096 : true).toBe(true);
    }
    while (queued.length > 0) drain();
    expect(behind).toEqual(new Set());
  });

  it("refuses bounds below one", () => {
    expect(() => new StreamBacklog({ frames: 0, bytes: 10 })).toThrow(RangeError);
    expect(() => new StreamBacklog({ frames: 10, bytes: 0 })).toThrow(RangeError);
  });
});
