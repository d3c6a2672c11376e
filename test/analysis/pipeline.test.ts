// A small run of the whole traffic analysis (npm run analysis): real relay and agent processes,
// the observer's proxy, features and the forest, so that the pipeline cannot rot between long runs.
import { describe, expect, it } from "vitest";
import { attack } from "../../analysis/attack.js";
import { runSession } from "../../analysis/session.js";
import { BUCKETS } from "../../src/wire/buckets.js";

describe("traffic analysis pipeline", () => {
  it("captures labelled traces of real agents on one link and cross-validates the attacker on them", async () => {
    const capture = await runSession({
      setting: { label: "off", agentCover: { mode: "off", rate: 0 }, relayFlags: ["--cover", "off"] },
      perWorkflow: 2,
      traceMs: 800,
      seed: 5,
      warmupMs: 300,
      log: () => undefined,
    });
    expect(capture.plan).toHaveLength(10);
    // The link: one 256-byte handshake each way, then bucket-sized link frames only.
    expect(capture.events.filter((e) => e.dir === "up")[0]?.size).toBe(256);
    expect(capture.events.every((e) => (BUCKETS as readonly number[]).includes(e.size))).toBe(true);
    capture.plan.forEach((t, i) => {
      const sent = capture.sent.alice[i] as number;
      if (t.workflow === "idle") expect(sent).toBe(0);
      else expect(sent).toBeGreaterThan(0);
    });
    const result = attack(capture, { trees: 10, folds: 2, seed: 1 });
    expect(result.workflows.n).toBe(10);
    expect(result.activeIdle.n).toBe(4);
    expect(result.workflows.importance).toHaveLength(result.names.length);
  });
});
