// An agent that falls far behind the relay (offline while a channel filled up, then replayed all
// at once) holds only a bounded backlog: what does not fit is dropped and fetched again from the
// archive once the backlog is applied, and nothing is lost, repeated or reordered.
import { describe, expect, it } from "vitest";
import type { Agent } from "../../src/agent/agent.js";
import type { BacklogLimits } from "../../src/agent/streamBacklog.js";
import { addWhenPublished, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/backlog";

async function joined(agent: Agent, channel: string): Promise<void> {
  const start = Date.now();
  while (!(await agent.channels()).some((c) => c.channel === channel)) {
    if (Date.now() - start > 20_000) throw new Error(`never joined ${channel}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe("an agent far behind the relay", () => {
  it.each<[string, BacklogLimits]>([
    ["frames", { frames: 4, bytes: 1 << 20 }],
    ["bytes", { frames: 1_000, bytes: 6 * 1024 }],
  ])("keeps its backlog within its bound (%s) and still gets every message once, in order", async (_, limits) => {
    const relay = await startRelay();
    const alice = await openAgent(agentConfig(relay, "alice", { log: () => {} }));
    const bobLog: string[] = [];
    const bobConfig = agentConfig(relay, "bob", { streamBacklog: limits, log: (line) => bobLog.push(line) });
    let bob = await openAgent(bobConfig);
    await alice.createChannel(CHANNEL);
    await addWhenPublished(alice, CHANNEL, bob);
    await joined(bob, CHANNEL);
    await bob.close();

    // 250 messages of 1 KiB: alice's key rotations (every 100) put commits in the middle.
    const sent = Array.from({ length: 250 }, (_, i) => `m${i} `.padEnd(1024, "x"));
    await Promise.all(sent.map((m) => alice.send(CHANNEL, m)));
    bob = await openAgent(bobConfig);
    const got: string[] = [];
    const start = Date.now();
    while (got.length < sent.length && Date.now() - start < 40_000) {
      const { messages } = await bob.receive({ channel: CHANNEL, waitMs: 2_000 });
      got.push(...messages.map((m) => m.message));
    }
    expect(got.map((m) => m.split(" ")[0])).toEqual(sent.map((m) => m.split(" ")[0]));
    expect(got).toEqual(sent);
    expect(bobLog.some((l) => l.includes("ahead of this agent") && l.includes(CHANNEL))).toBe(true);
    expect(bobLog.join("\n")).not.toContain("did not deliver");
    expect((await bob.receive({ channel: CHANNEL, waitMs: 300 })).messages).toEqual([]);
    await alice.send(CHANNEL, "still in step");
    expect((await bob.receive({ channel: CHANNEL, waitMs: 10_000 })).messages.map((m) => m.message)).toEqual(["still in step"]);
  }, 60_000);

  it("fetches its inbox again when Welcomes overflow the backlog, and joins every channel", async () => {
    const relay = await startRelay();
    const alice = await openAgent(agentConfig(relay, "alice", { log: () => {} }));
    const bobLog: string[] = [];
    const bobConfig = agentConfig(relay, "bob", { streamBacklog: { frames: 1, bytes: 1 << 20 }, log: (line) => bobLog.push(line) });
    let bob = await openAgent(bobConfig);
    const channels = ["acme/agents/in-1", "acme/agents/in-2", "acme/agents/in-3"];
    for (const c of channels) await alice.createChannel(c);
    await addWhenPublished(alice, channels[0]!, bob);
    await joined(bob, channels[0]!);
    await bob.close();
    for (const c of channels.slice(1)) await addWhenPublished(alice, c, bob);
    for (const c of channels) await alice.send(c, `hello ${c}`);

    bob = await openAgent(bobConfig);
    for (const c of channels) await joined(bob, c);
    for (const c of channels) {
      const { messages } = await bob.receive({ channel: c, waitMs: 20_000 });
      expect(messages.map((m) => m.message)).toEqual([`hello ${c}`]);
    }
    expect((await bob.channels()).map((c) => c.channel).sort()).toEqual(channels);
    expect(bobLog.some((l) => l.includes("ahead of this agent") && l.includes("the inbox"))).toBe(true);
  }, 60_000);
});
