// The chaos checks must be able to fail: each property is broken once on purpose here.
import { describe, expect, it } from "vitest";
import { checkRun, type ChaosRecords } from "./checks.js";
import type { FinalState, ReceivedRecord, SeenRecord } from "./protocol.js";

const members = ["a", "b", "c"];
const seen = (epoch: number, leaf: number, generation: number, digest: string, who = members): SeenRecord => ({
  channel: "x/y/z", epoch, ratchet: "application", leaf, generation, members: who, digest,
});
const final = (epoch: number, authenticator: string, who = members): FinalState => ({ member: true, delivered: [], groupId: "00", epoch, authenticator, members: who });

/** a sends m1 (seq 2, epoch 1) and m2 (seq 4, epoch 1); b and c receive both; all end alike. */
function healthy(): ChaosRecords & { received: Map<string, ReceivedRecord[]>; seen: Map<string, SeenRecord[]>; finals: Map<string, FinalState> } {
  const got = (): ReceivedRecord[] => [{ text: "m1", sender: "a", seq: 2 }, { text: "m2", sender: "a", seq: 4 }];
  return {
    sends: [{ text: "m1", sender: "a", acked: true, seq: 2 }, { text: "m2", sender: "a", acked: true, seq: 4 }],
    received: new Map([["a", []], ["b", got()], ["c", got()]]),
    seen: new Map([["b", [seen(1, 0, 0, "d1"), seen(1, 0, 1, "d2")]], ["c", [seen(1, 0, 0, "d1")]]]),
    archive: [
      { seq: 1, type: "GroupCommit", epoch: 0, digest: "c0" },
      { seq: 2, type: "Msg", epoch: 1, digest: "d1" },
      { seq: 3, type: "Msg", epoch: 1, digest: "x" },
      { seq: 4, type: "Msg", epoch: 1, digest: "d2" },
    ],
    finals: new Map([["a", final(1, "aa")], ["b", final(1, "aa")], ["c", final(1, "aa")]]),
  };
}

describe("checkRun", () => {
  it("passes a healthy run", () => {
    const report = checkRun(healthy());
    expect(report.violations).toEqual([]);
    expect(report.deliveriesChecked).toBe(4);
  });

  it("finds a lost message, a duplicate and an unknown one", () => {
    const r = healthy();
    r.received.set("b", [{ text: "m1", sender: "a", seq: 2 }, { text: "m1", sender: "a", seq: 2 }, { text: "forged", sender: "a", seq: 3 }]);
    expect(checkRun(r).violations.map((v) => v.kind).sort()).toEqual(["duplicate", "lost", "unknown"]);
  });

  it("does not expect a message from members removed before it, nor one the store handed out to a dead caller", () => {
    const base = healthy();
    // a commit at seq 3 removes c: m2 (seq 4) is ordered in epoch 2, which c is not part of
    const r = { ...base, archive: [...base.archive.slice(0, 2), { seq: 3, type: "GroupCommit", epoch: 1, digest: "c1" }, base.archive[3]!] };
    r.seen.set("b", [...r.seen.get("b")!, seen(2, 0, 0, "d9", ["a", "b"])]);
    r.received.set("c", [{ text: "m1", sender: "a", seq: 2 }]);
    r.finals.set("c", { member: false, delivered: [] });
    r.finals.set("a", final(2, "bb", ["a", "b"]));
    r.finals.set("b", { ...final(2, "bb", ["a", "b"]), delivered: [4] });
    r.received.set("b", [{ text: "m1", sender: "a", seq: 2 }]);
    const report = checkRun(r);
    expect(report.violations).toEqual([]);
    expect(report.answeredToDeadCaller).toBe(1);
  });

  it("finds a reused generation and diverging final epochs", () => {
    const r = healthy();
    r.seen.set("c", [seen(1, 0, 0, "other")]);
    r.finals.set("c", final(1, "ab"));
    expect(checkRun(r).violations.map((v) => v.kind).sort()).toEqual(["epoch_differs", "reused_generation"]);
  });
});
