import { describe, expect, it } from "vitest";
import { type Agent } from "../../src/agent/agent.js";
import { addWhenPublished, agentConfig, openAgent, seqOf, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/packed";

async function pair(packSends: boolean): Promise<[Agent, Agent]> {
  const relay = await startRelay();
  const alice = await openAgent(agentConfig(relay, "alice", { packSends, log: () => {} }));
  const bob = await openAgent(agentConfig(relay, "bob", { log: () => {} }));
  await alice.createChannel(CHANNEL);
  await addWhenPublished(alice, CHANNEL, bob);
  return [alice, bob];
}

async function drain(agent: Agent, count: number): Promise<{ message: string; seq: number | undefined }[]> {
  const got: { message: string; seq: number | undefined }[] = [];
  while (got.length < count) {
    const { messages, timedOut } = await agent.receive({ channel: CHANNEL, waitMs: 5000, maxMessages: 1000 });
    if (timedOut) throw new Error(`only ${got.length} of ${count} arrived`);
    got.push(...messages.map((m) => ({ message: m.message, seq: m.seq })));
  }
  return got;
}

describe("packed sends through the relay", () => {
  it("overlapping sends share MLS messages: each send gets its carrier's seq, and the receiver reads every text once, in order, under it", async () => {
    const [alice, bob] = await pair(true);
    const texts = Array.from({ length: 120 }, (_, i) => `m${i} ${"x".repeat(i * 7)}`);
    const sent = await Promise.all(texts.map((t) => alice.send(CHANNEL, t)));
    const seqs = sent.map(seqOf);
    expect(new Set(seqs).size).toBeLessThan(texts.length);
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    const got = await drain(bob, texts.length);
    expect(got).toEqual(texts.map((message, i) => ({ message, seq: seqs[i] })));
    expect((await bob.receive({ channel: CHANNEL, waitMs: 200 })).messages).toEqual([]);
  }, 60_000);

  it("with packSends false every send is its own MLS message", async () => {
    const [alice, bob] = await pair(false);
    const sent = await Promise.all(Array.from({ length: 40 }, (_, i) => alice.send(CHANNEL, `m${i}`)));
    expect(new Set(sent.map(seqOf)).size).toBe(40);
    expect((await drain(bob, 40)).map((m) => m.message)).toEqual(Array.from({ length: 40 }, (_, i) => `m${i}`));
  }, 60_000);
});
