import { describe, expect, it } from "vitest";
import { Agent, type AgentConfig } from "../../src/agent/agent.js";
import { Relay } from "../../src/relay/relayServer.js";
import { addWhenPublished, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/burst";
function configFor(relay: Relay, name: string): AgentConfig {
  // Rotation after 50 messages: commits land in the middle of the burst.
  return agentConfig(relay, name, { rotation: { messages: 50, ms: 3_600_000 }, log: () => {} });
}

describe("a burst of sends (batched encrypt, batched receive)", () => {
  it("every message arrives once, in send order, across rotations and a receiver restart", async () => {
    const relay = await startRelay();
    const alice = await openAgent(configFor(relay, "alice"));
    const bobConfig = configFor(relay, "bob");
    let bob = await openAgent(bobConfig);
    await alice.createChannel(CHANNEL);
    await addWhenPublished(alice, CHANNEL, bob);
    const received: string[] = [];
    const drain = async (agent: Agent, until: number) => {
      while (received.length < until) {
        const { messages, timedOut } = await agent.receive({ channel: CHANNEL, waitMs: 5000, maxMessages: 37 });
        if (timedOut) throw new Error(`only ${received.length} of ${until} arrived`);
        received.push(...messages.map((m) => m.message));
      }
    };
    const burst = (from: number, count: number) => Promise.all(Array.from({ length: count }, (_, i) => alice.send(CHANNEL, `m${from + i}`)));
    await burst(0, 200);
    await drain(bob, 120);
    // Restart the receiver mid-stream: what receive returned is never returned again, nothing is lost.
    await bob.close();
    await burst(200, 100);
    bob = await openAgent(bobConfig);
    await drain(bob, 300);
    expect(received).toEqual(Array.from({ length: 300 }, (_, i) => `m${i}`));
    const extra = await bob.receive({ channel: CHANNEL, waitMs: 300 });
    expect(extra.messages).toEqual([]);
  }, 60_000);
});
