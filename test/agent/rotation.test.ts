// Automatic key rotation: a self-update after `rotation.messages` sends or `rotation.ms`, whichever
// comes first. MCP hosts start and stop their servers often, so the time bound must outlive the
// process: an agent restarted every few minutes would otherwise never rotate.
import { describe, expect, it } from "vitest";
import type { Agent, AgentConfig } from "../../src/agent/agent.js";
import { addWhenPublished, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/rotation";
const HOUR = 3_600_000;

async function epochAbove(agent: Agent, epoch: bigint): Promise<bigint> {
  for (let i = 0; i < 200; i++) {
    const now = (await agent.members(CHANNEL)).epoch;
    if (now > epoch) return now;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`the channel stayed at epoch ${epoch}`);
}

/**
 * A rotation runs in the background after the send or read that started it: before asserting
 * that none started, give one time to land (a self-update here takes a few ms).
 */
const settle = () => new Promise((r) => setTimeout(r, 300));

describe("automatic key rotation", () => {
  it("counts the hour since the last rotation across restarts", async () => {
    const relay = await startRelay();
    let now = 1_800_000_000_000;
    const config: AgentConfig = agentConfig(relay, "alice", { rotation: { messages: 1000, ms: HOUR }, clock: () => now });
    let alice = await openAgent(config);
    await alice.createChannel(CHANNEL);
    const { epoch } = await alice.send(CHANNEL, "first, which starts the clock");

    // Restarted three times within the hour: no rotation is due.
    for (let restart = 0; restart < 3; restart++) {
      await alice.close();
      now += 20 * 60_000 - 1000;
      alice = await openAgent(config);
      expect((await alice.send(CHANNEL, `after restart ${restart}`)).epoch).toBe(epoch);
    }
    await settle();
    expect((await alice.members(CHANNEL)).epoch).toBe(epoch);

    // The fourth run passes the hour since the first send: this send starts a rotation.
    await alice.close();
    now += 3001;
    alice = await openAgent(config);
    await alice.send(CHANNEL, "an hour on");
    const rotated = await epochAbove(alice, epoch);

    // The rotation restarts the clock, also across a restart.
    await alice.close();
    now += HOUR - 1;
    alice = await openAgent(config);
    expect((await alice.send(CHANNEL, "within the hour of the rotation")).epoch).toBe(rotated);
    await settle();
    expect((await alice.members(CHANNEL)).epoch).toBe(rotated);
    now += 2;
    await alice.send(CHANNEL, "past it");
    await epochAbove(alice, rotated);
  });

  it("a member that only reads rotates too, once the hour is up", async () => {
    const relay = await startRelay();
    let now = 1_800_000_000_000;
    const alice = await openAgent(agentConfig(relay, "alice", { rotation: { messages: 1000, ms: 10 * HOUR }, clock: () => now }));
    const bob = await openAgent(agentConfig(relay, "bob", { rotation: { messages: 1000, ms: HOUR }, clock: () => now }));
    await alice.createChannel(CHANNEL);
    await addWhenPublished(alice, CHANNEL, bob);
    const readOne = async () => {
      const { messages } = await bob.receive({ channel: CHANNEL, waitMs: 5000 });
      expect(messages).toHaveLength(1);
    };
    const { epoch } = await alice.send(CHANNEL, "read at once");
    await readOne();
    now += HOUR - 1;
    await alice.send(CHANNEL, "read within the hour");
    await readOne();
    await settle();
    expect((await alice.members(CHANNEL)).epoch).toBe(epoch);
    now += 2;
    await alice.send(CHANNEL, "read after it");
    await readOne();
    await epochAbove(alice, epoch);
  });

  it("a member that asked to leave does not rotate when it reads", async () => {
    const relay = await startRelay();
    let now = 1_800_000_000_000;
    const alice = await openAgent(agentConfig(relay, "alice", { rotation: { messages: 1000, ms: 10 * HOUR }, clock: () => now }));
    const bobLog: string[] = [];
    const bob = await openAgent(agentConfig(relay, "bob", { rotation: { messages: 1000, ms: HOUR }, clock: () => now, log: (line) => bobLog.push(line) }));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    await bob.joinWithInvite(invite);
    await alice.send(CHANNEL, "read at once, which starts bob's clock");
    expect((await bob.receive({ channel: CHANNEL, waitMs: 5000 })).messages).toHaveLength(1);
    await alice.send(CHANNEL, "unread when bob leaves");
    await alice.close();
    expect(await bob.leave(CHANNEL)).toEqual({ channel: CHANNEL, status: "leave_requested" });
    now += 2 * HOUR;
    const { messages } = await bob.receive({ channel: CHANNEL, waitMs: 5000 });
    expect(messages.map((m) => m.message)).toEqual(["unread when bob leaves"]);
    await settle();
    // A self-update by a member with its own removal pending is refused by MLS; none is tried.
    expect(bobLog.filter((line) => line.includes("background step failed"))).toEqual([]);
  });

  it("rotates after the configured number of messages", async () => {
    const relay = await startRelay();
    const alice = await openAgent(agentConfig(relay, "alice", { rotation: { messages: 3, ms: HOUR } }));
    await alice.createChannel(CHANNEL);
    const { epoch } = await alice.send(CHANNEL, "one");
    await alice.send(CHANNEL, "two");
    await alice.send(CHANNEL, "three");
    await epochAbove(alice, epoch);
  });
});
