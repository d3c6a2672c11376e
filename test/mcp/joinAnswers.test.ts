// channel_join over the real Agent: a refused invite is a tool error with a stable code, a join no
// member answered says so, and channel_list shows how a pending join ended.
import { describe, expect, it } from "vitest";
import type { Agent } from "../../src/agent/agent.js";
import { ERROR_CODE_META } from "../../src/mcp/results.js";
import { afterThisTest, agentConfig, openAgent, startRelay } from "../agent/fixture.js";
import { connectHost, structured, textOf, type Host } from "./harness.js";

const CHANNEL = "acme/agents/joining";

async function hostOf(agent: Agent): Promise<Host> {
  const host = await connectHost(agent);
  afterThisTest(() => host.close());
  return host;
}

describe("channel_join with an invite the members refuse", () => {
  it("used up while a member is online: invite_used_up at once, not pending", async () => {
    const relay = await startRelay();
    const alice = await openAgent(agentConfig(relay, "alice"));
    const bob = await openAgent(agentConfig(relay, "bob"));
    const carol = await hostOf(await openAgent(agentConfig(relay, "carol")));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(await bob.joinWithInvite(invite)).toMatchObject({ status: "joined" });

    const result = await carol.call("channel_join", { invite, wait_ms: 20_000 });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toMatch(/^invite_used_up: the invite to 'acme\/agents\/joining' is used up.*ask a member for a new invite$/);
    expect(result._meta?.[ERROR_CODE_META]).toBe("invite_used_up");
  });

  it("nobody online: pending says no member answered; once a member refuses, channel_list and channel_join say why", async () => {
    const relay = await startRelay();
    const aliceConfig = agentConfig(relay, "alice");
    const alice = await openAgent(aliceConfig);
    const bob = await openAgent(agentConfig(relay, "bob"));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(await bob.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    await bob.close();
    await alice.close();

    const carol = await hostOf(await openAgent(agentConfig(relay, "carol")));
    const pending = structured(await carol.call("channel_join", { invite, wait_ms: 300 }));
    expect(pending).toMatchObject({ channel: CHANNEL, status: "pending" });
    expect(pending.note).toMatch(/^No member of 'acme\/agents\/joining' answered within 0\.3 s: none seems to be online.*channel_join again with the same invite/);
    expect(structured(await carol.call("channel_list"))).toEqual({ channels: [], joins: [{ channel: CHANNEL, status: "pending", requested_at: expect.any(String) }] });

    await openAgent(aliceConfig); // alice reads carol's request from the archive and refuses it
    await expect
      .poll(async () => structured(await carol.call("channel_list")).joins, { timeout: 10_000 })
      .toEqual([{ channel: CHANNEL, status: "refused", requested_at: expect.any(String), code: "invite_used_up", message: expect.stringMatching(/used up/) }]);
    const again = await carol.call("channel_join", { invite, wait_ms: 20_000 });
    expect(textOf(again)).toMatch(/^invite_used_up: /);
  });
});
