import { describe, expect, it } from "vitest";
import { ChannelWarnings } from "../../src/agent/channelWarnings.js";

describe("ChannelWarnings", () => {
  it("hands each warning out once, per channel or all, and logs it without its text", () => {
    const lines: string[] = [];
    const warnings = new ChannelWarnings((line) => lines.push(line));
    warnings.warn("a/b/c", "frames_missing", "lost frames 3-4", 3);
    warnings.warn("a/b/d", "frame_rejected", "frame 9 skipped", 9);
    expect(warnings.has("a/b/c")).toBe(true);
    expect(warnings.take("a/b/c")).toEqual([{ channel: "a/b/c", code: "frames_missing", message: "lost frames 3-4", seq: 3 }]);
    expect(warnings.has("a/b/c")).toBe(false);
    expect(warnings.take(undefined).map((w) => w.code)).toEqual(["frame_rejected"]);
    expect(lines).toEqual(["frames_missing on a/b/c at seq 3", "frame_rejected on a/b/d at seq 9"]);
  });

  it("keeps an identical unread warning once, and at most 100, oldest dropped first", () => {
    const warnings = new ChannelWarnings(() => undefined);
    warnings.warn("a/b/c", "fork_suspected", "split", 1);
    for (let i = 0; i < 500; i++) warnings.warn("a/b/d", "message_not_delivered", "queued message refused");
    for (let i = 0; i < 150; i++) warnings.warn("a/b/e", "frame_rejected", `frame ${i}`, i);
    const all = warnings.take(undefined);
    expect(all).toHaveLength(100);
    expect(all.filter((w) => w.code === "message_not_delivered")).toHaveLength(0);
    expect(all.at(-1)?.seq).toBe(149);
  });
});
