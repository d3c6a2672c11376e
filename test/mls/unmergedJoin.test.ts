import { describe, expect, it } from "vitest";
import { untext, groupOf, openAgent, stateOf, text, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/ops/unmerged";

/** Each parent node's unmerged leaves (blank parents and leaves as null). */
function unmergedLists(agent: TestAgent): (number[] | null)[] {
  return stateOf(agent, CHANNEL).ratchetTree.map((n) => (n?.nodeType === "parent" ? [...n.parent.unmergedLeaves] : null));
}

describe("joining a tree whose unmerged-leaf lists differ along a path", () => {
  it("adds under non-blank nodes on both sides of a fresh update: every newcomer joins and reads the channel", async () => {
    const [agents, stream] = await groupOf(CHANNEL, "alice", "bob", "carol", "dave", "erin", "frank", "gina");
    const [alice, bob, , dave, erin] = agents as [TestAgent, TestAgent, TestAgent, TestAgent, TestAgent];
    let members = [...agents];
    const apply = async (by: TestAgent, c: { commit: Uint8Array }) => {
      await by.mls.confirmCommit(CHANNEL);
      const seq = stream.next();
      for (const m of members) if (m !== by) await m.mls.receive(CHANNEL, c.commit, seq);
    };
    // Removing dave (leaf 3) leaves a hole on the left; erin's update makes the right half's nodes non-blank.
    const remove = await alice.mls.removeMembers(CHANNEL, ["dave"]);
    members = members.filter((m) => m !== dave);
    await apply(alice, remove);
    await apply(erin, await erin.mls.selfUpdate(CHANNEL));
    for (const [name, by] of [["yann", alice], ["xena", bob]] as const) {
      const newcomer = await openAgent(name);
      const add = await by.mls.addMembers(CHANNEL, [await newcomer.mls.createKeyPackage()]);
      await apply(by, add);
      await newcomer.mls.join(add.welcome!, stream.next());
      members.push(newcomer);
    }
    // The shape ts-mls 1.6.4's own check refuses: the root lists leaves 3 and 7, the nodes below it
    // list one each (RFC 9420 only asks the nodes between a leaf and a node listing it to list it).
    const lists = unmergedLists(alice);
    expect([lists[3], lists[7], lists[11]]).toEqual([[3], [3, 7], [7]]);
    const xena = members.at(-1)!;
    const outcomes = await xena.mls.receive(CHANNEL, await alice.mls.encrypt(CHANNEL, text("welcome, xena")), stream.next());
    expect(outcomes.flatMap((o) => (o.kind === "application" ? o.payloads.map(untext) : []))).toEqual(["welcome, xena"]);
  });
});
