// The first thing a new user does: create a channel, then send to it (issue 14). A fresh channel
// is empty at the relay (its last seq is 0), and the send must not wait for a seq 0 that never comes.
import { describe, expect, it } from "vitest";
import type { Agent } from "../../src/agent/agent.js";
import { Relay } from "../../src/relay/relayServer.js";
import { eventually } from "../helpers.js";
import { afterThisTest, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/first/send";

/** Resolves when the agent's relay client next hears a subscription acknowledged. */
function nextSubscribed(agent: Agent): Promise<void> {
  const client = (agent as unknown as { relay: { on(event: "subscribed", listener: () => void): () => void } }).relay;
  return new Promise((resolve) => {
    const stop = client.on("subscribed", () => {
      stop();
      resolve();
    });
  });
}

describe("the first send to a new channel", () => {
  it("goes out once the relay has acknowledged the empty channel's subscription", async () => {
    const relay = await startRelay();
    const alice = await openAgent(agentConfig(relay, "alice", { sendTimeoutMs: 3000 }));
    await eventually(() => alice.relayStatus().connected);
    const subscribed = nextSubscribed(alice);
    await alice.createChannel(CHANNEL);
    await subscribed;
    await expect(alice.send(CHANNEL, "hello")).resolves.toMatchObject({ channel: CHANNEL, seq: 1 });
  });

  it("goes out when the channel was created before the relay could be reached", async () => {
    const relay = await startRelay();
    const config = agentConfig(relay, "alice", { sendTimeoutMs: 3000 });
    const { port, config: relayConfig } = relay;
    await relay.close();
    const alice = await openAgent(config);
    await alice.createChannel(CHANNEL);
    const resubscribed = nextSubscribed(alice);
    const back = await Relay.start({ ...relayConfig, port }, { log: () => {} });
    afterThisTest(() => back.close());
    await resubscribed;
    await expect(alice.send(CHANNEL, "hello")).resolves.toMatchObject({ channel: CHANNEL, seq: 1 });
  });
});
