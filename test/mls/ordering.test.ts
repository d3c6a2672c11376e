import { decodeGroupState } from "ts-mls";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { describe, expect, it } from "vitest";
import { decodeMessage } from "../../src/mls/messages.js";
import { MAX_BUFFERED_PER_CHANNEL } from "../../src/mls/mlsAgent.js";
import { loadCiphersuite } from "../../src/mls/suite.js";
import { ChannelStream, openAgent, text, untext, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/ops/ordering";

async function group(...names: string[]): Promise<[TestAgent[], ChannelStream]> {
  const agents = await Promise.all(names.map((n) => openAgent(n)));
  const [creator, ...rest] = agents as [TestAgent, ...TestAgent[]];
  const stream = new ChannelStream(CHANNEL);
  await creator.mls.createChannel(CHANNEL);
  const add = await creator.mls.addMembers(CHANNEL, await Promise.all(rest.map((a) => a.mls.createKeyPackage())));
  await stream.publish(add.commit, [creator]);
  for (const a of rest) await a.mls.join(add.welcome!, 0);
  return [agents, stream];
}

async function sameEpoch(agents: TestAgent[]) {
  const infos = await Promise.all(agents.map((a) => a.mls.channelInfo(CHANNEL)));
  const [first] = infos;
  for (const i of infos) {
    expect(i.epoch).toBe(first!.epoch);
    expect(Buffer.from(i.epochAuthenticator)).toEqual(Buffer.from(first!.epochAuthenticator));
  }
  return first!.epoch;
}

describe("operations on one group", () => {
  it("50 concurrent encrypts give 50 distinct, decryptable messages", async () => {
    const [[alice, bob], stream] = await group("alice", "bob");
    const sent = await Promise.all(Array.from({ length: 50 }, (_, i) => alice!.mls.encrypt(CHANNEL, text(`m${i}`))));
    expect(new Set(sent.map((b) => Buffer.from(b).toString("hex"))).size).toBe(50);
    const got: string[] = [];
    for (const bytes of sent) {
      for (const o of await stream.publish(bytes, [bob!])) if (o.kind === "application") got.push(untext(o.plaintext));
    }
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it("two commits on one epoch: the relay's first wins, the other is discarded and rebuilt", async () => {
    const [[alice, bob, carol], stream] = await group("alice", "bob", "carol");
    const fromAlice = await alice!.mls.selfUpdate(CHANNEL);
    const fromBob = await bob!.mls.selfUpdate(CHANNEL);
    expect(fromAlice.epoch).toBe(fromBob.epoch);
    await expect(bob!.mls.selfUpdate(CHANNEL)).rejects.toMatchObject({ code: "commit_pending" });

    const outcomes = await stream.publish(fromAlice.commit, [alice!, bob!, carol!]);
    expect(outcomes.map((o) => o.kind === "commit" && [o.own, o.pendingDiscarded])).toEqual([
      [true, false],
      [false, true],
      [false, false],
    ]);
    const rebuilt = await bob!.mls.selfUpdate(CHANNEL);
    expect(rebuilt.epoch).toBe(fromAlice.epoch + 1n);
    await stream.publish(rebuilt.commit, [bob!, alice!, carol!]);
    expect(await sameEpoch([alice!, bob!, carol!])).toBe(fromAlice.epoch + 2n);
  });

  it("after a nack, a commit rebuilt on the same epoch uses a new handshake generation", async () => {
    const [[alice, bob], stream] = await group("alice", "bob");
    const first = await bob!.mls.selfUpdate(CHANNEL);
    await bob!.mls.discardCommit(CHANNEL);
    await expect(bob!.mls.discardCommit(CHANNEL)).rejects.toMatchObject({ code: "no_pending_commit" });
    const second = await bob!.mls.selfUpdate(CHANNEL);
    const cs = await loadCiphersuite();
    const state = decodeGroupState(alice!.store.loadGroup(CHANNEL)!.state, 0)![0];
    const generation = async (bytes: Uint8Array) => {
      const m = decodeMessage(bytes);
      if (m.wireformat !== "mls_private_message") throw new Error("not private");
      return (await decryptSenderData(m.privateMessage, state.keySchedule.senderDataSecret, cs))!.generation;
    };
    expect([await generation(first.commit), await generation(second.commit)]).toEqual([0, 1]);
    await stream.publish(second.commit, [bob!, alice!]);
    await sameEpoch([alice!, bob!]);
  });

  it("late messages of the old epoch still open after our commit is confirmed, once only", async () => {
    const [[alice, bob], stream] = await group("alice", "bob");
    const commit = await alice!.mls.selfUpdate(CHANNEL);
    const early = await bob!.mls.encrypt(CHANNEL, text("early"));
    const late = await bob!.mls.encrypt(CHANNEL, text("late"));
    const [e] = await alice!.mls.receive(CHANNEL, early); // processed while our commit is pending
    expect(e).toMatchObject({ kind: "application" });
    await alice!.mls.confirmCommit(CHANNEL);
    const [l] = await alice!.mls.receive(CHANNEL, late);
    expect(l?.kind === "application" && untext(l.plaintext)).toBe("late");
    await expect(alice!.mls.receive(CHANNEL, early)).rejects.toMatchObject({ code: "replay" });
    await stream.publish(commit.commit, [bob!]);
    await sameEpoch([alice!, bob!]);
  });

  it("messages of a future epoch wait for the commit that leads there", async () => {
    const [[alice, bob, carol], stream] = await group("alice", "bob", "carol");
    const update = await alice!.mls.selfUpdate(CHANNEL);
    await alice!.mls.confirmCommit(CHANNEL);
    await bob!.mls.receive(CHANNEL, update.commit, stream.next());
    const ahead = await bob!.mls.encrypt(CHANNEL, text("from the next epoch"));
    // carol sees bob's message before the commit (a relay reordering, or a resumed stream)
    const [buffered] = await carol!.mls.receive(CHANNEL, ahead);
    expect(buffered).toMatchObject({ kind: "buffered", epoch: 2n });
    const outcomes = await carol!.mls.receive(CHANNEL, update.commit);
    expect(outcomes.map((o) => o.kind)).toEqual(["commit", "application"]);
    expect(carol!.store.loadBuffered(CHANNEL)).toEqual([]);
  });

  it("the future-epoch buffer is bounded", async () => {
    const [[alice, bob], stream] = await group("alice", "bob");
    const update = await alice!.mls.selfUpdate(CHANNEL);
    await stream.publish(update.commit, [alice!]);
    const ahead = await alice!.mls.encrypt(CHANNEL, text("x"));
    for (let i = 0; i < MAX_BUFFERED_PER_CHANNEL; i++) await bob!.mls.receive(CHANNEL, ahead);
    await expect(bob!.mls.receive(CHANNEL, ahead)).rejects.toMatchObject({ code: "buffer_full" });
    // once the epoch is reached, the first copy is read and the other copies are replays, dropped
    const outcomes = await bob!.mls.receive(CHANNEL, update.commit);
    expect(outcomes.filter((o) => o.kind === "application")).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === "rejected" && o.code === "replay")).toHaveLength(MAX_BUFFERED_PER_CHANNEL - 1);
  });

  it("a message claiming an epoch far ahead is refused, not buffered", async () => {
    const [[alice, bob]] = await group("alice", "bob");
    const m = await alice!.mls.encrypt(CHANNEL, text("x"));
    const forged = m.slice();
    const epochOffset = 4 + 1 + 12; // version, wire format, group id length and bytes
    new DataView(forged.buffer).setBigUint64(epochOffset, 2n ** 63n + 5n);
    await expect(bob!.mls.receive(CHANNEL, forged)).rejects.toMatchObject({ code: "epoch_mismatch" });
    expect(bob!.store.loadBuffered(CHANNEL)).toEqual([]);
  });

  it("a duplicate sequence number changes nothing", async () => {
    const [[alice, bob], stream] = await group("alice", "bob");
    const m = await alice!.mls.encrypt(CHANNEL, text("once"));
    const seq = stream.next();
    expect((await bob!.mls.receive(CHANNEL, m, seq))[0]).toMatchObject({ kind: "application" });
    expect(await bob!.mls.receive(CHANNEL, m, seq)).toEqual([{ kind: "duplicate", channel: CHANNEL, seq }]);
  });
});
