// The six ways "who bob is" could be decided by whoever answered first (issue: identity you can
// verify), each tried as the attacker would, with the project's own relay and agents. On the code
// before agents were their keys each of them worked; now each ends in a clear error or warning
// with nothing read.
import { randomBytes } from "node:crypto";
import { createCommit, createGroup } from "ts-mls";
import { describe, expect, it } from "vitest";
import { decodeInvite, decodeJoinRequest } from "../../src/agent/invites.js";
import { keyOfDidKey } from "../../src/mls/didKey.js";
import { CHANNEL_NAME_EXTENSION, createKeyPackage } from "../../src/mls/keyPackages.js";
import { decodeKeyPackageMessage, encodeKeyPackageMessage, encodeWelcomeMessage } from "../../src/mls/messages.js";
import { clientConfig, loadCiphersuite } from "../../src/mls/suite.js";
import { proveCommit } from "../../src/wire/commitProof.js";
import type { Envelope, EnvelopeOf, RelayThroughType } from "../../src/wire/envelope.js";
import { linkAuthBytes } from "../../src/wire/linkAuth.js";
import { agentConfig, introduce, openAgent as openChannelManager, startRelay } from "../agent/fixture.js";
import { openAgent as openMls, tempDir, type TestAgent as MlsTestAgent } from "../helpers.js";
import { testChannel, testIdentity, testKeyOf } from "../identity.js";
import { TestLink } from "../relay/testLink.js";
import { mlsMessage } from "../transport/helpers.js";
import { CHANNEL, channelOf, eventually, receive, receiveN, world } from "./fixture.js";

const PAYROLL = "acme/finance/payroll";

/** The answer to a request on a raw link, an Error included. */
const answer = (l: TestLink, e: Envelope) => l.request(e).catch((error: { answer: Envelope }) => error.answer);

/** One of `key`'s key packages from the relay's directory, once it has published some. */
async function fetchPackage(link: TestLink, key: Uint8Array): Promise<Uint8Array> {
  for (let i = 0; i < 200; i++) {
    const reply = await link.request({ type: "KeyPackageFetch", id: 0n, key });
    if (reply.type === "KeyPackageReply" && reply.keyPackage !== undefined) return reply.keyPackage;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error("no key package was published");
}

/**
 * A Welcome into a group `maker` builds by hand with ts-mls: the given group id and channel name,
 * no genesis, the given key packages added. What a forger who knows a channel's id can make.
 */
async function lookalikeWelcome(maker: MlsTestAgent, groupId: Uint8Array, channel: string, keyPackages: Uint8Array[]): Promise<Uint8Array> {
  const cs = await loadCiphersuite();
  const own = await createKeyPackage(maker.mls.identity, cs, Math.floor(Date.now() / 1000));
  const name = { extensionType: CHANNEL_NAME_EXTENSION, extensionData: new TextEncoder().encode(channel) };
  const state = await createGroup(groupId, own.keyPackage, own.privateKeys, [name], cs, clientConfig);
  const add = await createCommit(
    { state, cipherSuite: cs },
    { extraProposals: keyPackages.map((kp) => ({ proposalType: "add" as const, add: { keyPackage: decodeKeyPackageMessage(kp) } })), ratchetTreeExtension: true },
  );
  return encodeWelcomeMessage(add.welcome!);
}

describe("identity you can verify: the six attacks", () => {
  it("1. a hostile relay answers an add by name with a key package of its own: identity_mismatch, nothing added or encrypted to it", async () => {
    const w = await world();
    const alice = await w.open("alice");
    const bob = await w.open("bob");
    await alice.agent.createChannel(CHANNEL);
    // The relay's own agent, calling itself bob, with its own key.
    const impostor = await (await openMls("bob", tempDir(), undefined, "the relay's")).mls.createKeyPackage();
    w.hostile.hooks.down = (e, l) => (l.agent === "alice" && e.type === "KeyPackageReply" && e.keyPackage !== undefined ? [{ ...e, keyPackage: impostor }] : undefined);
    await eventually(async () => {
      const error = await alice.agent.addMember(CHANNEL, { agent: "bob" }).then(() => undefined, (e: { code: string }) => e);
      if (error?.code === "not_found") return false; // bob's key packages are not published yet
      expect(error).toMatchObject({ code: "identity_mismatch", message: expect.stringMatching(/another key .*the relay may be hostile/) });
      return true;
    });
    // bob's own key package with the relay's init key in it: it no longer verifies, MLS refuses it.
    w.hostile.hooks.down = (e, l) => {
      if (l.agent !== "alice" || e.type !== "KeyPackageReply" || e.keyPackage === undefined) return undefined;
      const real = decodeKeyPackageMessage(e.keyPackage);
      const initKey = real.initKey.slice();
      initKey[0]! ^= 1;
      return [{ ...e, keyPackage: encodeKeyPackageMessage({ ...real, initKey }) }];
    };
    await expect(alice.agent.addMember(CHANNEL, { agent: "bob" })).rejects.toMatchObject({ code: expect.stringMatching(/^(decryption_failure|bad_request)$/) });
    w.hostile.behave();
    expect(await alice.agent.members(CHANNEL)).toMatchObject({ epoch: 0n, members: [{ identity: "alice" }] });
    // With the relay behaving, the same add reaches the real bob.
    await alice.agent.addMember(CHANNEL, { agent: "bob" });
    await eventually(async () => (await bob.agent.channels()).some((c) => c.channel === CHANNEL));
  });

  it("2. a local process cannot be bob without bob's key: not his name, not his inbox, not his directory entry", async () => {
    const relay = await startRelay();
    const alice = await openChannelManager(agentConfig(relay, "alice"));
    const bobConfig = agentConfig(relay, "bob");
    const bob = await openChannelManager(bobConfig);
    await introduce(alice, bob);
    await eventually(() => bob.relayStatus().connected);
    await new Promise((r) => setTimeout(r, 300)); // bob's key packages reach the directory
    await bob.close();

    // Another key claiming bob's name on the open relay: refused.
    const claim = await TestLink.connect(relay.url, relay.relayKey.publicKey, "bob", { identity: testIdentity("bob", "not bob's") }).catch((e: { answer: Envelope }) => e.answer);
    expect(claim).toMatchObject({ type: "Error", code: "auth_failed", message: expect.stringMatching(/belongs to another identity key/) });

    // Under a name of its own: what it publishes goes into its own entry, its inbox is its own.
    const mallory = await TestLink.connect(relay.url, relay.relayKey.publicKey, "mallory");
    const planted = await (await openMls("bob", tempDir(), undefined, "mallory's")).mls.createKeyPackage();
    expect(await answer(mallory, { type: "KeyPackagePublish", id: 0n, lastResort: false, keyPackage: planted })).toMatchObject({ type: "Ack" });
    await alice.createChannel(CHANNEL);
    await alice.addMember(CHANNEL, { agent: "bob" }); // bob's own key package, from bob's entry
    expect(await answer(mallory, { type: "InboxSubscribe", id: 0n, fromSeq: 1n })).toMatchObject({ type: "Ack", seq: 0n });
    expect(await answer(mallory, { type: "InboxAck", id: 0n, upToSeq: 10n })).toMatchObject({ type: "Ack" });
    await new Promise((r) => setTimeout(r, 200));
    expect(mallory.pushed.filter((e) => e.type === "GroupWelcome")).toEqual([]);
    mallory.close();

    // bob comes back and joins with the Welcome mallory could neither read nor ack away.
    const back = await openChannelManager(bobConfig);
    await eventually(async () => (await back.channels()).some((c) => c.channel === CHANNEL));
    await alice.send(CHANNEL, "for bob only");
    expect((await back.receive({ channel: CHANNEL, waitMs: 10_000 })).messages.map((m) => m.message)).toEqual(["for bob only"]);
  });

  it("3. a channel squatted under a known name by someone calling itself alice: an offer marked as a conflict, and the real alice's invite still joins", async () => {
    const relay = await startRelay();
    const alice = await openChannelManager(agentConfig(relay, "alice"));
    const bob = await openChannelManager(agentConfig(relay, "bob"));
    await introduce(alice, bob);
    await eventually(() => bob.relayStatus().connected);

    // mallory: an MLS engine whose credential says "alice" (with mallory's key), on a link as "mallory".
    const fake = await openMls("alice", tempDir(), undefined, "mallory's");
    const key = testIdentity("alice", "mallory's");
    const { opening } = await fake.mls.createChannel(PAYROLL);
    const mallory = await TestLink.connect(relay.url, relay.relayKey.publicKey, "mallory", {
      identity: { key: key.key, prove: async (b) => key.sign(linkAuthBytes(b, "mallory")) },
    });
    expect(await answer(mallory, { type: "ChannelOpen", id: 0n, ...opening })).toMatchObject({ type: "Ack" });
    const bobKey = keyOfDidKey(bob.identity.did);
    const add = await fake.mls.addMembers(PAYROLL, [await fetchPackage(mallory, bobKey)]);
    expect(await answer(mallory, { type: "GroupCommit", id: 0n, commit: add.commit, welcome: { recipients: [bobKey], welcome: add.welcome! }, proof: add.proof })).toMatchObject({
      type: "GroupAck",
    });

    // bob is not pulled in: the add waits as an offer, its "alice" marked as a conflict with the alice he knows.
    await eventually(async () => (await bob.offers()).length === 1);
    const [offer] = await bob.offers();
    expect(offer).toMatchObject({ channel: PAYROLL, addedBy: { name: "alice", trust: "conflict" }, creator: { name: "alice", trust: "conflict" } });
    expect(await bob.channels()).toEqual([]);

    // The real alice's channel of the same name, and her invite: joined, no already_exists.
    await alice.createChannel(PAYROLL);
    const { invite } = await alice.invite(PAYROLL, { maxUses: 1, ttlSeconds: 600 });
    expect(await bob.joinWithInvite(invite)).toMatchObject({ status: "joined", channel: PAYROLL, members: ["alice", "bob"] });

    // Even accepted, the squatter's channel is a second channel with a handle of its own and a conflicting creator.
    expect(await bob.answerOffer(offer!.offer, true)).toMatchObject({ status: "joined", channel: expect.stringMatching(/^acme\/finance\/payroll#[0-9a-f]{8}$/) });
    expect((await bob.channels()).map((c) => c.creator?.trust).sort()).toEqual(["conflict", "verified"]);
  });

  it("4. a leaked invite lets its holder join, never stand in for the inviter: no opening, no first commit, no Welcome the joiner takes", async () => {
    const w = await world();
    const alice = await w.open("alice");
    await alice.agent.createChannel(CHANNEL);
    const { invite } = await alice.agent.invite(CHANNEL, { maxUses: 2, ttlSeconds: 600 });
    const token = decodeInvite(invite);

    // mallory, holding the invite, at the relay: she cannot open its channel (the id is made from alice's key) ...
    const mallory = await openMls("mallory");
    const link = await TestLink.connect(w.relay.url, w.relay.relayKey.publicKey, "mallory");
    const stolen = { ...testChannel(testIdentity("mallory")).opening, channel: token.groupId };
    expect(await answer(link, { type: "ChannelOpen", id: 0n, ...stolen })).toMatchObject({ type: "Error", code: "forbidden" });
    // ... nor win its first commit (it must be signed with the key of epoch 0, which only alice's group holds).
    const commit = mlsMessage(token.groupId, 0n, 3, 200);
    const proof = proveCommit(token.groupId, 0n, commit, randomBytes(32), randomBytes(32));
    expect(await answer(link, { type: "GroupCommit", id: 0n, commit, welcome: undefined, proof })).toMatchObject({ type: "Error", code: "forbidden" });

    // A relay on her side hands the joiner a Welcome into her lookalike: the invite's id and name,
    // alice's own leaf (from alice's key package) and the joiner's (from its join request).
    const carol = await w.open("carol");
    const captured: { request?: EnvelopeOf<RelayThroughType> } = {};
    w.hostile.hooks.up = (e, l) => {
      if (l.agent !== "carol" || e.type !== "JoinRequest") return undefined;
      // Kept from the members (they would admit carol into the real channel), acknowledged to carol.
      captured.request = e;
      l.toClient({ type: "Ack", id: e.id, seq: 99n });
      return [];
    };
    const joining = carol.agent.joinWithInvite(invite, 8_000).catch((e: { code: string; message: string }) => e);
    await eventually(() => captured.request !== undefined);
    const packages = [await fetchPackage(link, testKeyOf("alice")), decodeJoinRequest(captured.request!.payload)!.keyPackage];
    const welcome = await lookalikeWelcome(mallory, token.groupId, CHANNEL, packages);
    w.hostile.linksOf("carol")[0]!.toClient({ type: "GroupWelcome", id: 1n, channel: token.groupId, commitSeq: 1n, welcome });
    expect(await joining).toMatchObject({ code: "identity_mismatch", message: expect.stringMatching(/not the one 'alice' invited you to \(another creator\)/) });
    expect(await carol.agent.channels()).toEqual([]);
  });

  it("5. a proposal at epoch 2^62 before the first commit cannot kill a channel", async () => {
    const relay = await startRelay();
    const alice = await openChannelManager(agentConfig(relay, "alice"));
    const bob = await openChannelManager(agentConfig(relay, "bob"));
    await introduce(alice, bob);
    await alice.createChannel(CHANNEL);
    // The channel's id is no secret: every invite carries it.
    const { groupId } = decodeInvite((await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 })).invite);
    const mallory = await TestLink.connect(relay.url, relay.relayKey.publicKey, "mallory");
    expect(await answer(mallory, { type: "GroupProposal", id: 0n, body: mlsMessage(groupId, 2n ** 62n, 2, 100) })).toMatchObject({ type: "GroupNack", epoch: 0n });
    expect(await answer(mallory, { type: "Msg", id: 0n, body: mlsMessage(groupId, 2n ** 62n, 1, 100) })).toMatchObject({ type: "Error", code: "bad_request" });
    // The channel goes on: an add, a message, a rotation.
    await eventually(() => alice.addMember(CHANNEL, { agent: "bob" }).then(() => true, () => false));
    await alice.send(CHANNEL, "still alive");
    expect((await bob.receive({ channel: CHANNEL, waitMs: 10_000 })).messages.map((m) => m.message)).toEqual(["still alive"]);
    expect((await alice.rotateKeys(CHANNEL)).epoch).toBe(2n);
  });

  it("6. unreadable frames from a non-member right after the add do not end a provisional join", async () => {
    const w = await world();
    const alice = await w.open("alice");
    const bob = await w.open("bob");
    // The channel's id, from the Welcome bob is delivered (a stranger learns it from an invite).
    const seen: { groupId?: Uint8Array } = {};
    w.hostile.hooks.down = (e, l) => {
      if (l.agent === "bob" && e.type === "GroupWelcome") seen.groupId = e.channel;
      return undefined;
    };
    await channelOf(alice, { name: "bob", t: bob });
    const groupId = seen.groupId!;
    // No member has sent anything since: bob's join is still provisional.
    const epoch = (await bob.agent.members(CHANNEL)).epoch;
    const stranger = await TestLink.connect(w.relay.url, w.relay.relayKey.publicKey, "stranger");
    expect(await answer(stranger, { type: "Msg", id: 0n, body: mlsMessage(groupId, epoch, 1, 300, 7) })).toMatchObject({ type: "Ack" });
    expect(await answer(stranger, { type: "GroupProposal", id: 0n, body: mlsMessage(groupId, epoch, 2, 300, 8) })).toMatchObject({ type: "GroupAck" });
    await eventually(() => bob.log.filter((l) => /^(fork_suspected|frame_rejected) on/.test(l)).length >= 2);
    expect(bob.log.some((l) => l.startsWith("half_joined"))).toBe(false);
    expect(await bob.agent.channels()).toMatchObject([{ channel: CHANNEL }]);
    await alice.agent.send(CHANNEL, "the join stands");
    expect(await receiveN(bob, 1)).toEqual(["alice: the join stands"]);
    expect(await receive(bob)).toEqual([]);
  });
});
