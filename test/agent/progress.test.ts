import { describe, expect, it } from "vitest";
import { Progress } from "../../src/agent/progress.js";

describe("Progress", () => {
  it("until resolves once its condition holds at a wake, and rejects with the given code on timeout", async () => {
    const progress = new Progress();
    let done = false;
    const waiting = progress.until(() => done, 5_000, "never");
    progress.wake();
    done = true;
    progress.wake();
    await expect(waiting).resolves.toBeUndefined();
    await expect(progress.until(() => false, 10, "nothing came", "relay_unreachable")).rejects.toMatchObject({ code: "relay_unreachable", message: "nothing came" });
  });

  it("close ends every wait: unmet ones reject as closing, pauses end early", async () => {
    const progress = new Progress();
    const waiting = progress.until(() => false, 60_000, "");
    const paused = progress.pause(60_000);
    progress.close();
    await expect(waiting).rejects.toMatchObject({ code: "not_found", message: "the agent is closing" });
    await expect(paused).resolves.toBeUndefined();
    expect(progress.closed).toBe(true);
  });

  it("nextEvent ends at the next wake or abort", async () => {
    const progress = new Progress();
    const woken = progress.nextEvent(60_000, undefined);
    progress.wake();
    await expect(woken).resolves.toBeUndefined();
    const abort = new AbortController();
    const aborted = progress.nextEvent(60_000, abort.signal);
    abort.abort();
    await expect(aborted).resolves.toBeUndefined();
    progress.close();
  });
});
