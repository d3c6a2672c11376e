// The MCP layer over the real channel manager (Agent) and a real relay: the same tool contract as
// with the memory service, now with MLS, the store and the wire underneath.
import { afterEach, describe, expect, it } from "vitest";
import { CallToolResultSchema, type Progress } from "@modelcontextprotocol/sdk/types.js";
import { Agent } from "../../src/agent/agent.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { tempDir } from "../helpers.js";
import { ERROR_CODE_META } from "../../src/mcp/results.js";
import { connectHost, structured, textOf, type Host } from "./harness.js";

const CHANNEL = "acme/agents/mcp";
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
});

async function startRelay(): Promise<Relay> {
  const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", tempDir("skytale-relay-"), "--cover", "off"], {}), { log: () => {} });
  cleanups.push(() => relay.close());
  return relay;
}

async function agentHost(relay: Relay, name: string): Promise<{ agent: Agent; host: Host }> {
  const agent = await Agent.open({
    name,
    dataDir: tempDir(`skytale-${name}-`),
    relayUrl: relay.url,
    relayKey: relay.relayKey.publicKey,
    cover: { mode: "off", rate: 0 },
    log: () => {},
  });
  cleanups.push(() => agent.close());
  const host = await connectHost(agent);
  cleanups.push(() => host.close());
  return { agent, host };
}

describe("tools over the real Agent", () => {
  it("create → invite → join → send → receive (long poll with progress) → members → leave", async () => {
    const relay = await startRelay();
    const planner = await agentHost(relay, "planner");
    const coder = await agentHost(relay, "coder");

    expect(structured(await planner.host.call("whoami"))).toMatchObject({ identity: "planner", relay: { url: relay.url } });
    expect(structured(await planner.host.call("channel_create", { channel: CHANNEL }))).toEqual({ channel: CHANNEL, epoch: 0, members: ["planner"] });
    const invite = structured(await planner.host.call("channel_invite", { channel: CHANNEL }));
    const joined = structured(await coder.host.call("channel_join", { invite: invite.invite, wait_ms: 10_000 }));
    expect(joined).toMatchObject({ channel: CHANNEL, status: "joined", members: ["planner", "coder"] });
    expect(typeof joined.epoch).toBe("number");

    const progress: Progress[] = [];
    const receiving = coder.host.client.callTool({ name: "receive", arguments: { channel: CHANNEL, wait_ms: 20_000 } }, CallToolResultSchema, {
      onprogress: (p) => progress.push(p),
    });
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const sent = structured(await planner.host.call("send", { channel: CHANNEL, message: "hello from the planner" }));
    expect(sent).toMatchObject({ channel: CHANNEL, seq: expect.any(Number), epoch: expect.any(Number) });
    const received = structured(CallToolResultSchema.parse(await receiving));
    expect(received.messages).toMatchObject([{ channel: CHANNEL, sender: "planner", message: "hello from the planner" }]);
    expect(progress.length).toBeGreaterThanOrEqual(1);

    const members = structured(await coder.host.call("channel_members", { channel: CHANNEL }));
    expect((members.members as { identity: string }[]).map((m) => m.identity)).toEqual(["planner", "coder"]);
    expect(structured(await coder.host.call("channel_leave", { channel: CHANNEL }))).toMatchObject({ channel: CHANNEL });
  });

  it("key_package → channel_add_member → channel_join with the welcome; errors keep their codes", async () => {
    const relay = await startRelay();
    const planner = await agentHost(relay, "planner");
    const coder = await agentHost(relay, "coder");
    await planner.host.call("channel_create", { channel: CHANNEL });
    const { key_package } = structured(await coder.host.call("key_package"));
    const added = structured(await planner.host.call("channel_add_member", { channel: CHANNEL, key_package }));
    expect(added).toMatchObject({ channel: CHANNEL, members: ["planner", "coder"] });
    // The Agent also receives the Welcome through its relay inbox and may have joined already, so
    // the manual join either joins or says, with a code, that the Welcome was used.
    const joined = await coder.host.call("channel_join", { channel: CHANNEL, welcome: added.welcome });
    if (joined.isError) expect(textOf(joined)).toMatch(/^(unknown_key_package|already_exists): /);
    else expect(joined.structuredContent).toMatchObject({ status: "joined" });
    await expect
      .poll(async () => (structured(await coder.host.call("channel_list")).channels as { channel: string }[]).map((c) => c.channel), { timeout: 10_000 })
      .toEqual([CHANNEL]);

    expect(textOf(await planner.host.call("send", { channel: "nope/nope/nope", message: "x" }))).toMatch(/^not_found: /);
    expect(textOf(await planner.host.call("channel_create", { channel: CHANNEL }))).toMatch(/^already_exists: /);
    expect(textOf(await coder.host.call("channel_join", { invite: "skytale-invite-v2.AAAA" }))).toMatch(/^bad_request: /);
    expect(textOf(await coder.host.call("channel_join", { invite: "skytale-invite-v1.AAAA" }))).toMatch(/^invite_invalid: .*older skytale-mcp/);
    expect(planner.host.logs).toEqual([]);
    expect(coder.host.logs).toEqual([]);
  });

  it("channel_remove_member of someone who is not a member is not_found and changes nothing", async () => {
    const relay = await startRelay();
    const planner = await agentHost(relay, "planner");
    await planner.host.call("channel_create", { channel: CHANNEL });
    const result = await planner.host.call("channel_remove_member", { channel: CHANNEL, member: "nobody" });
    expect(result.isError).toBe(true);
    expect(textOf(result)).toBe(`not_found: 'nobody' is not a member of '${CHANNEL}'; channel_members lists its members`);
    expect(result._meta?.[ERROR_CODE_META]).toBe("not_found");
    expect(structured(await planner.host.call("channel_members", { channel: CHANNEL }))).toMatchObject({ epoch: 0, members: [{ identity: "planner" }] });
  });

  it("timed_out with an empty list when nothing arrives", async () => {
    const relay = await startRelay();
    const planner = await agentHost(relay, "planner");
    await planner.host.call("channel_create", { channel: CHANNEL });
    const result = await planner.host.call("receive", { wait_ms: 300 });
    expect(result.structuredContent).toEqual({ messages: [], timed_out: true });
  });
});
