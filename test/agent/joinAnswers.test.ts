// A join refused by the members reaches the joiner as a clear error (used up, expired, revoked),
// a join nobody answered says so, and a refusal needs the invite's secret: the relay or a stranger
// cannot fake one, and even one forged by another holder of the invite cannot stop the join.
import { describe, expect, it } from "vitest";
import { decodeInvite, decodeJoinRequest, encodeJoinReply } from "../../src/agent/invites.js";
import { keyOfDidKey } from "../../src/mls/didKey.js";
import type { EnvelopeOf, RelayThroughType } from "../../src/wire/envelope.js";
import { TestLink } from "../relay/testLink.js";
import { afterThisTest, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/joins";

async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** A raw link (as the agent named `name`) following the channel, to see join requests and send replies. */
async function watcher(relay: { url: string; relayKey: { publicKey: Uint8Array } }, groupId: Uint8Array, name = "mallory"): Promise<TestLink> {
  const link = await TestLink.connect(relay.url, relay.relayKey.publicKey, name);
  afterThisTest(() => link.close());
  await link.request({ type: "Subscribe", id: 0n, channel: groupId, fromSeq: 1n });
  return link;
}

const joinRequests = (link: TestLink) => link.pushed.filter((e): e is EnvelopeOf<RelayThroughType> => e.type === "JoinRequest");

describe("a refused join reaches the joiner", () => {
  it("a used-up invite, while a member is online: invite_used_up, not pending", async () => {
    const relay = await startRelay();
    const alice = await openAgent(agentConfig(relay, "alice"));
    const bob = await openAgent(agentConfig(relay, "bob"));
    const carol = await openAgent(agentConfig(relay, "carol"));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    expect(await bob.joinWithInvite(invite)).toMatchObject({ status: "joined" });
    await expect(carol.joinWithInvite(invite, 15_000)).rejects.toMatchObject({
      code: "invite_used_up",
      message: expect.stringMatching(/used up.*ask a member .* new invite/),
    });
    expect(await carol.channels()).toEqual([]);
  });

  it("an invite the members' clock says has expired: invite_expired", async () => {
    const relay = await startRelay();
    let skew = 0;
    const alice = await openAgent(agentConfig(relay, "alice", { clock: () => Date.now() + skew }));
    const carol = await openAgent(agentConfig(relay, "carol"));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 60 });
    skew = 120_000; // for alice the invite has expired; for carol, whose clock is behind, not yet
    await expect(carol.joinWithInvite(invite, 15_000)).rejects.toMatchObject({ code: "invite_expired" });
    // Expired by the joiner's own clock: refused before anything is sent.
    const expired = { ...decodeInvite(invite), expiresAt: Math.floor(Date.now() / 1000) - 1 };
    const { encodeInvite } = await import("../../src/agent/invites.js");
    await expect(carol.joinWithInvite(encodeInvite(expired))).rejects.toMatchObject({ code: "invite_expired" });
  });

  it("nobody online to answer: pending says so; asking again sends no second request, and reports the outcome once a member answers", async () => {
    const relay = await startRelay();
    const aliceConfig = agentConfig(relay, "alice");
    const alice = await openAgent(aliceConfig);
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    await alice.close();
    const link = await watcher(relay, decodeInvite(invite).groupId);
    const carol = await openAgent(agentConfig(relay, "carol"));
    const pending = await carol.joinWithInvite(invite, 300);
    expect(pending).toMatchObject({ status: "pending", channel: CHANNEL, note: expect.stringMatching(/no member .* answered within 0\.3 s.*online/i) });
    expect(await carol.pendingJoins()).toEqual([expect.objectContaining({ channel: CHANNEL, status: "pending" })]);
    expect(await carol.joinWithInvite(invite, 300)).toMatchObject({ status: "pending" });
    await eventually(() => joinRequests(link).length >= 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(joinRequests(link)).toHaveLength(1);

    const back = await openAgent(aliceConfig);
    expect(await carol.joinWithInvite(invite, 15_000)).toMatchObject({ status: "joined", channel: CHANNEL, members: ["alice", "carol"] });
    expect(joinRequests(link)).toHaveLength(1);
    expect(await carol.pendingJoins()).toEqual([]);
    expect((await back.members(CHANNEL)).members.map((m) => m.identity)).toEqual(["alice", "carol"]);
  });

  it("a refusal must carry the invite's MAC; even a forged one, from another holder of the invite, cannot stop the join", async () => {
    const relay = await startRelay();
    const aliceConfig = agentConfig(relay, "alice");
    const alice = await openAgent(aliceConfig);
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    await alice.close(); // nobody answers for real meanwhile
    const token = decodeInvite(invite);
    const mallory = await watcher(relay, token.groupId);
    const carolLog: string[] = [];
    const carol = await openAgent(agentConfig(relay, "carol", { log: (line) => carolLog.push(line) }));
    let outcome: unknown;
    const joining = carol.joinWithInvite(invite, 15_000).then(
      (r) => (outcome = r),
      (e: unknown) => (outcome = e),
    );
    await eventually(() => joinRequests(mallory).length === 1);
    const request = decodeJoinRequest(joinRequests(mallory)[0]!.payload)!;
    const toCarol = { kind: "agent" as const, key: keyOfDidKey(carol.identity.did) };
    const reply = (secret: Uint8Array, reason: "used_up" | "expired" | "revoked") =>
      mallory.request({ type: "JoinReply", id: 0n, target: toCarol, from: new Uint8Array(0), payload: encodeJoinReply(secret, { inviteId: token.id, requestMac: request.mac, reason }) });

    // Without the invite's secret (what the relay or a stranger could send): ignored.
    await reply(new Uint8Array(32).fill(1), "revoked");
    await eventually(() => carolLog.some((line) => /ignored a refusal .* does not carry the invite's MAC/.test(line)));
    expect(outcome).toBeUndefined();
    // With it (mallory holds the invite too): the wait ends with that answer ...
    await reply(token.secret, "used_up");
    await joining;
    expect(outcome).toMatchObject({ code: "invite_used_up" });
    // ... but the members never refused: once one is online carol is admitted all the same.
    await openAgent(aliceConfig);
    await eventually(async () => (await carol.channels()).some((c) => c.channel === CHANNEL));
  });
});
