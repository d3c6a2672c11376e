// receive's long poll: it wakes on a message, times out without an error, reports progress when
// the host asks, and stops when the host cancels.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { CallToolResultSchema, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { structured, twoAgents } from "./harness.js";

const CHANNEL = "acme/research/planning";

describe("receive with wait_ms", () => {
  let agents: Awaited<ReturnType<typeof twoAgents>>;
  beforeEach(async () => {
    // A short tick so progress tests do not take seconds; the real service ticks about once a second.
    agents = await twoAgents({ waitTickMs: 50 });
    await agents.planner.createChannel(CHANNEL);
    const { invite } = await agents.planner.invite(CHANNEL, { maxUses: 1, ttlSeconds: 60 });
    await agents.coder.joinWithInvite(invite);
  });
  afterEach(() => agents.close());

  it("wakes as soon as a message arrives", async () => {
    const started = Date.now();
    const receiving = agents.coderHost.call("receive", { channel: CHANNEL, wait_ms: 20_000 });
    await new Promise((resolve) => setTimeout(resolve, 150));
    await agents.plannerHost.call("send", { channel: CHANNEL, message: "ready?" });
    const result = structured(await receiving);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(result.timed_out).toBe(false);
    expect(result.messages).toMatchObject([{ sender: "planner", message: "ready?" }]);
  });

  it("times out with timed_out true and an empty list, not an error", async () => {
    const started = Date.now();
    const result = await agents.coderHost.call("receive", { wait_ms: 300 });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ messages: [], timed_out: true });
  });

  it("sends increasing progress notifications when the host asks for them", async () => {
    const progress: Progress[] = [];
    const result = await agents.coderHost.client.callTool({ name: "receive", arguments: { wait_ms: 400 } }, CallToolResultSchema, {
      onprogress: (p) => progress.push(p),
    });
    expect(result.structuredContent).toEqual({ messages: [], timed_out: true });
    expect(progress.length).toBeGreaterThanOrEqual(3);
    for (const [i, p] of progress.entries()) {
      expect(p.total).toBe(400);
      expect(p.message).toBe("waiting for messages");
      if (i > 0) expect(p.progress).toBeGreaterThan(progress[i - 1]?.progress ?? Infinity);
    }
  });

  it("sends no progress when the host did not ask", async () => {
    const notifications: string[] = [];
    agents.coderHost.client.fallbackNotificationHandler = async (n) => {
      notifications.push(n.method);
    };
    await agents.coderHost.call("receive", { wait_ms: 200 });
    expect(notifications).not.toContain("notifications/progress");
  });

  it("stops waiting promptly when the host cancels", async () => {
    const controller = new AbortController();
    const receiving = agents.coderHost.client.callTool({ name: "receive", arguments: { wait_ms: 20_000 } }, CallToolResultSchema, {
      signal: controller.signal,
    });
    await expect.poll(() => agents.coder.activeWaits).toBe(1);
    const cancelled = Date.now();
    controller.abort("user pressed stop");
    await expect(receiving).rejects.toThrow();
    await expect.poll(() => agents.coder.activeWaits, { timeout: 500, interval: 5 }).toBe(0);
    expect(Date.now() - cancelled).toBeLessThan(500);
    // Cancellation is not a bug: nothing logged as an internal error.
    expect(agents.coderHost.logs).toEqual([]);
    // And the server carries on.
    expect((await agents.coderHost.call("channel_list")).isError).toBeFalsy();
  });

  it("stops on the host's request timeout the same way", async () => {
    const receiving = agents.coderHost.client.callTool({ name: "receive", arguments: { wait_ms: 20_000 } }, CallToolResultSchema, { timeout: 200 });
    await expect(receiving).rejects.toThrow(/timed out/i);
    await expect.poll(() => agents.coder.activeWaits, { timeout: 500, interval: 5 }).toBe(0);
  });

  it("returns at most max_messages and leaves the rest for the next call", async () => {
    for (const message of ["one", "two", "three"]) await agents.plannerHost.call("send", { channel: CHANNEL, message });
    const first = structured(await agents.coderHost.call("receive", { max_messages: 2 }));
    expect((first.messages as { message: string }[]).map((m) => m.message)).toEqual(["one", "two"]);
    const second = structured(await agents.coderHost.call("receive", {}));
    expect((second.messages as { message: string }[]).map((m) => m.message)).toEqual(["three"]);
  });
});
