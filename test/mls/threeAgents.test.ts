import { processPrivateMessage, makePskIndex } from "ts-mls";
import { unprotectPrivateMessage } from "ts-mls/messageProtection.js";
import { describe, expect, it } from "vitest";
import { clientConfig, loadCiphersuite } from "../../src/mls/suite.js";
import { ChannelStream, openAgent, privateMessageOf, stateOf, text, untext } from "../helpers.js";

const CHANNEL = "acme/research/planning";

describe("three agents in one channel", () => {
  it("create, add, join, talk both ways, remove, self-update, leave", async () => {
    const cs = await loadCiphersuite();
    const [alice, bob, carol] = await Promise.all([openAgent("alice"), openAgent("bob"), openAgent("carol")]);
    const stream = new ChannelStream(CHANNEL);

    const created = await alice.mls.createChannel(CHANNEL);
    expect(created.epoch).toBe(0n);
    expect(created.members.map((m) => m.name)).toEqual(["alice"]);

    const add = await alice.mls.addMembers(CHANNEL, [await bob.mls.createKeyPackage(), await carol.mls.createKeyPackage()]);
    expect(add.welcome).toBeDefined();
    expect((await alice.mls.channelInfo(CHANNEL)).epoch).toBe(0n); // nothing moves before the relay orders it
    const [own] = await stream.publish(add.commit, [alice]);
    expect(own).toMatchObject({ kind: "commit", own: true, epoch: 1n });
    for (const joiner of [bob, carol]) {
      const joined = await joiner.mls.join(add.welcome!, 0);
      expect(joined.channel).toBe(CHANNEL);
      expect(joined.members.map((m) => m.name)).toEqual(["alice", "bob", "carol"]);
    }

    const hello = await alice.mls.encrypt(CHANNEL, text("hello from alice"));
    const received = await stream.publish(hello, [bob, carol]);
    for (const r of received) {
      expect(r.kind).toBe("application");
      if (r.kind !== "application") continue;
      expect(r.sender.name).toBe("alice");
      expect(r.sender.did).toBe(alice.mls.did);
      expect(r.sender.safetyCode).toBe(alice.mls.safetyCode);
      expect(untext(r.payloads[0]!)).toBe("hello from alice");
    }
    const reply = await bob.mls.encrypt(CHANNEL, text("hi alice, bob here"));
    for (const r of await stream.publish(reply, [alice, carol])) {
      expect(r).toMatchObject({ kind: "application", sender: { name: "bob" } });
      if (r.kind === "application") expect(untext(r.payloads[0]!)).toBe("hi alice, bob here");
    }

    // Remove carol. The commit must carry an UpdatePath, or carol could derive the next epoch.
    const carolBefore = stateOf(carol, CHANNEL);
    const remove = await alice.mls.removeMembers(CHANNEL, ["carol"]);
    const bobView = stateOf(bob, CHANNEL);
    const opened = await unprotectPrivateMessage(
      bobView.keySchedule.senderDataSecret, privateMessageOf(remove.commit), bobView.secretTree, bobView.ratchetTree,
      bobView.groupContext, clientConfig.keyRetentionConfig, cs,
    );
    expect(opened.content.content.contentType).toBe("commit");
    if (opened.content.content.contentType === "commit") expect(opened.content.content.commit.path).toBeDefined();

    const removal = await stream.publish(remove.commit, [alice, bob, carol]);
    expect(removal.map((o) => o.kind === "commit" && o.removed)).toEqual([false, false, true]);
    expect(carol.mls.channels()).toEqual([]);

    const secret = await alice.mls.encrypt(CHANNEL, text("carol must not read this"));
    await expect(carol.mls.receive(CHANNEL, secret, stream.next())).rejects.toMatchObject({ code: "not_found" });
    // Even with her last state kept by hand, carol can neither follow the epoch nor read the message.
    const afterRemove = await processPrivateMessage(carolBefore, privateMessageOf(remove.commit), makePskIndex(carolBefore, {}), cs);
    expect(afterRemove.newState.groupActiveState.kind).toBe("removedFromGroup");
    await expect(processPrivateMessage(afterRemove.newState, privateMessageOf(secret), makePskIndex(afterRemove.newState, {}), cs)).rejects.toThrow();
    await expect(processPrivateMessage(carolBefore, privateMessageOf(secret), makePskIndex(carolBefore, {}), cs)).rejects.toThrow();
    const [bobGotSecret] = await bob.mls.receive(CHANNEL, secret, stream.next());
    expect(bobGotSecret).toMatchObject({ kind: "application", sender: { name: "alice" } });

    // Bob rotates his keys: both end in the same epoch with the same epoch authenticator.
    const update = await bob.mls.selfUpdate(CHANNEL);
    await stream.publish(update.commit, [bob, alice]);
    const [a, b] = [await alice.mls.channelInfo(CHANNEL), await bob.mls.channelInfo(CHANNEL)];
    expect(a.epoch).toBe(3n);
    expect(b.epoch).toBe(3n);
    expect(Buffer.from(a.epochAuthenticator).equals(Buffer.from(b.epochAuthenticator))).toBe(true);

    // Bob leaves: his proposal is committed by alice, and bob learns he is out.
    const leave = await bob.mls.proposeLeave(CHANNEL);
    expect((await stream.publish(leave, [alice]))[0]).toMatchObject({ kind: "proposal" });
    const commitLeave = await alice.mls.commitPendingProposals(CHANNEL);
    const left = await stream.publish(commitLeave.commit, [alice, bob]);
    expect(left.map((o) => o.kind === "commit" && o.removed)).toEqual([false, true]);
    expect((await alice.mls.channelInfo(CHANNEL)).members.map((m) => m.name)).toEqual(["alice"]);
    expect(bob.mls.channels()).toEqual([]);
  });
});
