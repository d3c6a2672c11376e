// Every tool with good input, through a real SDK client, in the order agents use them.
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { twoAgents, structured, textOf } from "./harness.js";

const CHANNEL = "acme/research/planning";

describe("every tool with good input", () => {
  let agents: Awaited<ReturnType<typeof twoAgents>>;
  beforeEach(async () => {
    agents = await twoAgents();
  });
  afterEach(() => agents.close());

  it("whoami names the agent, its key and its relay", async () => {
    const me = structured(await agents.plannerHost.call("whoami"));
    const { did, safetyCode } = agents.planner.identity;
    expect(me).toEqual({ identity: "planner", did, safety_code: safetyCode, relay: { url: "ws://127.0.0.1:8787", connected: true } });
  });

  it("returns the same data as JSON text and as structuredContent", async () => {
    const result = await agents.plannerHost.call("channel_create", { channel: CHANNEL });
    expect(JSON.parse(textOf(result))).toEqual(result.structuredContent);
    expect(result.structuredContent).toEqual({ channel: CHANNEL, epoch: 0, members: ["planner"] });
  });

  it("invite → join → send → receive, with epochs as numbers", async () => {
    const { plannerHost, coderHost } = agents;
    await plannerHost.call("channel_create", { channel: CHANNEL });

    const invite = structured(await plannerHost.call("channel_invite", { channel: CHANNEL }));
    expect(invite).toMatchObject({ channel: CHANNEL, max_uses: 1 });
    expect(typeof invite.invite).toBe("string");
    const expires = Date.parse(String(invite.expires_at));
    expect(expires - Date.now()).toBeGreaterThan(3590_000);
    expect(expires - Date.now()).toBeLessThanOrEqual(3600_000);

    // A pasted token often ends in a newline: that is not part of it.
    const joined = structured(await coderHost.call("channel_join", { invite: `${String(invite.invite)}\n` }));
    expect(joined).toEqual({ channel: CHANNEL, status: "joined", epoch: 1, members: ["planner", "coder"] });

    const sent = structured(await plannerHost.call("send", { channel: CHANNEL, message: "plan: write the tests first" }));
    expect(sent).toEqual({ channel: CHANNEL, status: "sent", seq: 1, epoch: 1 });

    const list = structured(await coderHost.call("channel_list"));
    expect(list).toEqual({ channels: [{ channel: CHANNEL, name: CHANNEL, creator: null, epoch: 1, members: ["planner", "coder"], unread: 1 }], joins: [] });

    const received = structured(await coderHost.call("receive", { channel: CHANNEL }));
    expect(received.timed_out).toBe(false);
    expect(received.messages).toEqual([
      { channel: CHANNEL, sender: "planner", sender_did: agents.planner.identity.did, trust: "unknown", message: "plan: write the tests first", seq: 1, sent_at: expect.any(String), received_at: expect.any(String) },
    ]);
    expect(received.notice).toMatch(/untrusted/);

    // Each message is returned once: an immediate second receive is empty, and that is not an error.
    const again = await coderHost.call("receive", {});
    expect(again.isError).toBeFalsy();
    expect(again.structuredContent).toEqual({ messages: [], timed_out: false });
  });

  it("an invite with more uses and a longer life", async () => {
    await agents.plannerHost.call("channel_create", { channel: CHANNEL });
    const invite = structured(await agents.plannerHost.call("channel_invite", { channel: CHANNEL, max_uses: 5, ttl_seconds: 86_400 }));
    expect(invite.max_uses).toBe(5);
    expect(Date.parse(String(invite.expires_at)) - Date.now()).toBeGreaterThan(86_000_000);
  });

  it("a join nobody admitted yet is pending, with a note on what happens next", async () => {
    await agents.plannerHost.call("channel_create", { channel: CHANNEL });
    const invite = structured(await agents.plannerHost.call("channel_invite", { channel: CHANNEL }));
    agents.network.membersOnline = false;
    const pending = structured(await agents.coderHost.call("channel_join", { invite: invite.invite, wait_ms: 100 }));
    expect(pending).toMatchObject({ channel: CHANNEL, status: "pending" });
    expect(pending.note).toMatch(/^No member .* answered.*online.*channel_join again with the same invite/);
    expect(structured(await agents.coderHost.call("channel_list")).joins).toEqual([{ channel: CHANNEL, status: "pending", requested_at: expect.any(String) }]);
    expect(pending.epoch).toBeUndefined();
  });

  it("key_package → channel_add_member → channel_join with the welcome", async () => {
    const { plannerHost, coderHost } = agents;
    await plannerHost.call("channel_create", { channel: CHANNEL });
    const { key_package } = structured(await coderHost.call("key_package"));
    expect(key_package).toMatch(/^[A-Za-z0-9_-]+$/);

    const added = structured(await plannerHost.call("channel_add_member", { channel: CHANNEL, key_package }));
    expect(added).toMatchObject({ channel: CHANNEL, epoch: 1, members: ["planner", "coder"] });
    expect(added.welcome).toMatch(/^[A-Za-z0-9_-]+$/);

    const joined = structured(await coderHost.call("channel_join", { channel: CHANNEL, welcome: added.welcome }));
    expect(joined).toEqual({ channel: CHANNEL, status: "joined", epoch: 1, members: ["planner", "coder"] });
  });

  it("channel_add_member by agent id", async () => {
    await agents.plannerHost.call("channel_create", { channel: CHANNEL });
    const added = structured(await agents.plannerHost.call("channel_add_member", { channel: CHANNEL, agent: "coder" }));
    expect(added).toMatchObject({ epoch: 1, members: ["planner", "coder"] });
  });

  it("channel_members shows identities and fingerprints", async () => {
    await agents.plannerHost.call("channel_create", { channel: CHANNEL });
    await agents.plannerHost.call("channel_add_member", { channel: CHANNEL, agent: "coder" });
    const members = structured(await agents.plannerHost.call("channel_members", { channel: CHANNEL }));
    expect(members).toEqual({
      channel: CHANNEL,
      epoch: 1,
      members: [
        { identity: "planner", did: agents.planner.identity.did, safety_code: agents.planner.identity.safetyCode, trust: "unknown" },
        { identity: "coder", did: agents.coder.identity.did, safety_code: agents.coder.identity.safetyCode, trust: "unknown" },
      ],
    });
  });

  it("channel_rotate_keys, channel_remove_member and channel_leave move the epoch", async () => {
    const { plannerHost, coderHost } = agents;
    await plannerHost.call("channel_create", { channel: CHANNEL });
    const invite = structured(await plannerHost.call("channel_invite", { channel: CHANNEL }));
    await coderHost.call("channel_join", { invite: invite.invite });

    expect(structured(await plannerHost.call("channel_rotate_keys", { channel: CHANNEL }))).toEqual({ channel: CHANNEL, epoch: 2, members: ["planner", "coder"] });
    expect(structured(await plannerHost.call("channel_remove_member", { channel: CHANNEL, member: "coder" }))).toEqual({ channel: CHANNEL, epoch: 3, members: ["planner"] });
    expect(structured(await plannerHost.call("channel_leave", { channel: CHANNEL }))).toEqual({ channel: CHANNEL, status: "left" });
    expect(structured(await plannerHost.call("channel_list"))).toEqual({ channels: [], joins: [] });
  });
});
