// What the agent detected of a misbehaving relay reaches the model through receive.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { structured, twoAgents } from "./harness.js";

const CHANNEL = "acme/research/planning";

describe("receive reports the relay's misbehaviour", () => {
  let agents: Awaited<ReturnType<typeof twoAgents>>;
  beforeEach(async () => {
    agents = await twoAgents();
    await agents.planner.createChannel(CHANNEL);
  });
  afterEach(() => agents.close());

  it("returns warnings with code, message and seq, without a notice when there are no messages", async () => {
    agents.planner.warnings.push({ channel: CHANNEL, code: "fork_suspected", message: "frames at this agent's epoch cannot be read", seq: 7 });
    const result = await agents.plannerHost.call("receive", { channel: CHANNEL, wait_ms: 5000 });
    expect(result.isError).toBeFalsy();
    expect(structured(result)).toEqual({
      messages: [],
      timed_out: false,
      warnings: [{ channel: CHANNEL, code: "fork_suspected", message: "frames at this agent's epoch cannot be read", seq: 7 }],
    });
    expect(structured(await agents.plannerHost.call("receive", { channel: CHANNEL }))).toEqual({ messages: [], timed_out: false });
  });
});
