import { describe, expect, it } from "vitest";
import { MAX_BUFFERED_PER_CHANNEL } from "../../src/mls/mlsAgent.js";
import { generationOf, groupOf, text, untext, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/ops/ordering";

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
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const sent = await Promise.all(Array.from({ length: 50 }, (_, i) => alice!.mls.encrypt(CHANNEL, text(`m${i}`))));
    expect(new Set(sent.map((b) => Buffer.from(b).toString("hex"))).size).toBe(50);
    const got: string[] = [];
    for (const bytes of sent) {
      for (const o of await stream.publish(bytes, [bob!])) if (o.kind === "application") got.push(untext(o.payloads[0]!));
    }
    expect(got).toEqual(Array.from({ length: 50 }, (_, i) => `m${i}`));
  });

  it("two commits on one epoch: the relay's first wins, the other is discarded and rebuilt", async () => {
    const [[alice, bob, carol], stream] = await groupOf(CHANNEL, "alice", "bob", "carol");
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
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const first = await bob!.mls.selfUpdate(CHANNEL);
    await bob!.mls.discardCommit(CHANNEL);
    await expect(bob!.mls.discardCommit(CHANNEL)).rejects.toMatchObject({ code: "no_pending_commit" });
    const second = await bob!.mls.selfUpdate(CHANNEL);
    expect([await generationOf(alice!, CHANNEL, first.commit), await generationOf(alice!, CHANNEL, second.commit)]).toEqual([0, 1]);
    await stream.publish(second.commit, [bob!, alice!]);
    await sameEpoch([alice!, bob!]);
  });

  it("late messages of the old epoch still open after our commit is confirmed, once only", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const commit = await alice!.mls.selfUpdate(CHANNEL);
    const early = await bob!.mls.encrypt(CHANNEL, text("early"));
    const late = await bob!.mls.encrypt(CHANNEL, text("late"));
    const [e] = await alice!.mls.receive(CHANNEL, early); // processed while our commit is pending
    expect(e).toMatchObject({ kind: "application" });
    await alice!.mls.confirmCommit(CHANNEL);
    const [l] = await alice!.mls.receive(CHANNEL, late);
    expect(l?.kind === "application" && untext(l.payloads[0]!)).toBe("late");
    await expect(alice!.mls.receive(CHANNEL, early)).rejects.toMatchObject({ code: "replay" });
    await stream.publish(commit.commit, [bob!]);
    await sameEpoch([alice!, bob!]);
  });

  it("a message of a future epoch waits for the commit that leads there, even when that commit has a lower seq", async () => {
    const [[alice, bob, carol]] = await groupOf(CHANNEL, "alice", "bob", "carol");
    const update = await alice!.mls.selfUpdate(CHANNEL);
    await alice!.mls.confirmCommit(CHANNEL);
    await bob!.mls.receive(CHANNEL, update.commit, 1);
    const ahead = await bob!.mls.encrypt(CHANNEL, text("from the next epoch"));
    // carol sees bob's message (seq 2) before the commit (seq 1): a reordering or a resumed stream
    expect((await carol!.mls.receive(CHANNEL, ahead, 2))[0]).toMatchObject({ kind: "buffered", epoch: 2n });
    expect(await carol!.mls.receive(CHANNEL, ahead, 2)).toEqual([{ kind: "duplicate", channel: CHANNEL, seq: 2 }]);
    const outcomes = await carol!.mls.receive(CHANNEL, update.commit, 1);
    expect(outcomes.map((o) => [o.kind, o.seq])).toEqual([["commit", 1], ["application", 2]]);
    expect(carol!.store.loadBuffered(CHANNEL)).toEqual([]);
    expect(await carol!.mls.receive(CHANNEL, ahead, 2)).toEqual([{ kind: "duplicate", channel: CHANNEL, seq: 2 }]);
  });

  it("confirming our commit processes messages buffered for its epoch", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const update = await alice!.mls.selfUpdate(CHANNEL);
    await bob!.mls.receive(CHANNEL, update.commit, 1); // bob got the commit before alice got her ack
    const reply = await bob!.mls.encrypt(CHANNEL, text("already in the new epoch"));
    expect((await alice!.mls.receive(CHANNEL, reply, 2))[0]).toMatchObject({ kind: "buffered" });
    const drained = await alice!.mls.confirmCommit(CHANNEL);
    expect(drained.map((o) => o.kind === "application" && untext(o.payloads[0]!))).toEqual(["already in the new epoch"]);
  });

  it("our own frames, echoed by the relay, are recognised and skipped", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const mine = await alice!.mls.encrypt(CHANNEL, text("mine"));
    expect(await stream.publish(mine, [alice!, bob!])).toMatchObject([{ kind: "own" }, { kind: "application" }]);
    const update = await alice!.mls.selfUpdate(CHANNEL);
    await alice!.mls.confirmCommit(CHANNEL); // the ack came before the echo
    expect(await stream.publish(update.commit, [alice!, bob!])).toMatchObject([{ kind: "own" }, { kind: "commit" }]);
    const leave = await bob!.mls.proposeLeave(CHANNEL);
    expect(await stream.publish(leave, [bob!, alice!])).toMatchObject([{ kind: "own" }, { kind: "proposal" }]);
    await expect(alice!.mls.encrypt(CHANNEL, text("x"))).rejects.toMatchObject({ code: "proposals_pending" });
  });

  it("the future-epoch buffer is bounded, in count and in how far ahead", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const update = await alice!.mls.selfUpdate(CHANNEL);
    await stream.publish(update.commit, [alice!]);
    const ahead = await alice!.mls.encrypt(CHANNEL, text("x"));
    for (let i = 0; i < MAX_BUFFERED_PER_CHANNEL; i++) await bob!.mls.receive(CHANNEL, ahead);
    await expect(bob!.mls.receive(CHANNEL, ahead)).rejects.toMatchObject({ code: "buffer_full" });
    // once the epoch is reached, the first copy is read and the other copies are replays, dropped
    const outcomes = await bob!.mls.receive(CHANNEL, update.commit);
    expect(outcomes.filter((o) => o.kind === "application")).toHaveLength(1);
    expect(outcomes.filter((o) => o.kind === "rejected" && o.code === "replay")).toHaveLength(MAX_BUFFERED_PER_CHANNEL - 1);

    const forged = (await alice!.mls.encrypt(CHANNEL, text("x"))).slice();
    new DataView(forged.buffer).setBigUint64(4 + 1 + 12, 2n ** 63n + 5n); // the epoch field
    await expect(bob!.mls.receive(CHANNEL, forged)).rejects.toMatchObject({ code: "epoch_mismatch" });
    expect(bob!.store.countBuffered(CHANNEL)).toBe(0);
  });

  it("a duplicate sequence number changes nothing", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
    const m = await alice!.mls.encrypt(CHANNEL, text("once"));
    const seq = stream.next();
    expect((await bob!.mls.receive(CHANNEL, m, seq))[0]).toMatchObject({ kind: "application" });
    expect(await bob!.mls.receive(CHANNEL, m, seq)).toEqual([{ kind: "duplicate", channel: CHANNEL, seq }]);
  });
});
