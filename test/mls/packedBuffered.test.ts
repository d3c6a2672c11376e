// Packed messages on the MLS layer's less travelled paths: held for a future epoch, and refused
// while proposals wait.
import { describe, expect, it } from "vitest";
import { groupOf, text, untext } from "../helpers.js";

const CHANNEL = "acme/ops/packed-buffered";

describe("packed messages, buffered and refused", () => {
  it("a packed message of a future epoch is held, then stored payload by payload under its seq when the epoch comes", async () => {
    const [[alice, bob, carol]] = await groupOf(CHANNEL, "alice", "bob", "carol");
    const update = await alice!.mls.selfUpdate(CHANNEL);
    await alice!.mls.confirmCommit(CHANNEL);
    await bob!.mls.receive(CHANNEL, update.commit, 1);
    const texts = ["n0", "n1", "n2", "n3"];
    const sealed = await Promise.all(texts.map((t) => bob!.mls.seal(CHANNEL, text(t))));
    expect(new Set(sealed).size).toBe(1);
    expect((await carol!.mls.receive(CHANNEL, sealed[0]!.bytes, 2))[0]).toMatchObject({ kind: "buffered" });
    const outcomes = await carol!.mls.receive(CHANNEL, update.commit, 1);
    expect(outcomes.map((o) => [o.kind, o.seq])).toEqual([["commit", 1], ["application", 2]]);
    expect(carol!.store.undelivered(CHANNEL, 100).map((m) => [untext(m.plaintext), m.seq])).toEqual(texts.map((t) => [t, 2]));
    expect(await carol!.mls.receive(CHANNEL, sealed[0]!.bytes, 2)).toEqual([{ kind: "duplicate", channel: CHANNEL, seq: 2 }]);
  });

  it("while a proposal waits every send of a pack is refused with proposals_pending, and all go once it is committed", async () => {
    const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob", "carol");
    const leave = await bob!.mls.proposeLeave(CHANNEL);
    await stream.publish(leave, [alice!]);
    const refused = await Promise.allSettled([0, 1, 2].map((i) => alice!.mls.seal(CHANNEL, text(`p${i}`))));
    expect(refused.map((r) => r.status === "rejected" && (r.reason as { code: string }).code)).toEqual(["proposals_pending", "proposals_pending", "proposals_pending"]);
    await alice!.mls.commitPendingProposals(CHANNEL);
    await alice!.mls.confirmCommit(CHANNEL);
    const sealed = await Promise.all([0, 1, 2].map((i) => alice!.mls.seal(CHANNEL, text(`p${i}`))));
    expect(sealed.map((s) => s.payloads)).toEqual([3, 3, 3]);
  });
});
