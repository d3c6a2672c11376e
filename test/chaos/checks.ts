// The properties a chaos run must keep, checked on what the run recorded. Pure functions, so a
// failing run can be re-checked from its files.
import type { FinalMember, FinalState, ReceivedRecord, SeenRecord } from "./protocol.js";

/** A send the test made: `acked` when the agent's send() returned success (with the relay's seq). */
export interface SendRecord {
  readonly text: string;
  readonly sender: string;
  readonly acked: boolean;
  readonly seq: number | undefined;
}

/** One frame of the channel's archive as an outside observer reads it. */
export interface ArchiveFrame {
  readonly seq: number;
  readonly type: string;
  /** Cleartext MLS header epoch (MLS frames only). */
  readonly epoch: number | undefined;
  /** SHA-256 of the PrivateMessage ciphertext (MLS frames only). */
  readonly digest: string | undefined;
}

export interface ChaosRecords {
  readonly sends: readonly SendRecord[];
  readonly received: ReadonlyMap<string, readonly ReceivedRecord[]>;
  readonly seen: ReadonlyMap<string, readonly SeenRecord[]>;
  readonly archive: readonly ArchiveFrame[];
  readonly finals: ReadonlyMap<string, FinalState>;
}

export interface Violation {
  readonly kind: "lost" | "duplicate" | "unknown" | "reused_generation" | "membership_disagrees" | "epoch_differs" | "not_in_archive" | "archives_differ";
  readonly detail: string;
}

export interface ChaosReport {
  readonly violations: Violation[];
  /** Deliveries checked (acked message × expected recipient). */
  readonly deliveriesChecked: number;
  /**
   * Deliveries receive() handed out (the store marked them delivered) whose answer never reached
   * the test: the driver was killed between the two. receive() is at most once to its caller.
   */
  readonly answeredToDeadCaller: number;
  /** Acked messages whose epoch membership nobody observed (their recipients could not be checked). */
  readonly unchecked: number;
  /** Acked messages whose sender was removed by a commit the relay ordered before them (no one may read them). */
  readonly fromRemovedSenders: number;
  readonly generationsSeen: number;
}

/** Epoch → member names, from every receiver's sender data; receivers must agree. */
function membersByEpoch(records: ChaosRecords, violations: Violation[]): Map<number, string[]> {
  const byEpoch = new Map<number, string[]>();
  for (const [agent, seen] of records.seen) {
    for (const s of seen) {
      const known = byEpoch.get(s.epoch);
      if (known === undefined) byEpoch.set(s.epoch, s.members);
      else if (known.join(",") !== s.members.join(",") && violations.length < 50) {
        violations.push({ kind: "membership_disagrees", detail: `${agent} saw epoch ${s.epoch} as [${s.members}], others as [${known}]` });
      }
    }
  }
  // The last epoch may carry no message at all; the agents' final states name its members.
  for (const f of records.finals.values()) if (f.member && !byEpoch.has(f.epoch)) byEpoch.set(f.epoch, f.members);
  return byEpoch;
}

/**
 * Checks a run:
 * - every acknowledged message is returned by receive() exactly once at every agent that must see
 *   it: a member of the epoch it was encrypted in (not its sender) that is still a member at its
 *   place in the relay's order (a member removed by a commit ordered before the message cannot
 *   read it; a member added later never could); a message whose sender was removed by a commit
 *   ordered before it is readable by no one (receivers refuse it: sender_removed);
 * - no receive() returns a message twice, or one nobody sent;
 * - no (epoch, sender leaf, ratchet, generation) carries two different ciphertexts;
 * - every agent that ends as a member ends at the same epoch with the same epoch authenticator
 *   and member list, and that list is exactly the agents that end as members.
 */
export function checkRun(records: ChaosRecords): ChaosReport {
  const violations: Violation[] = [];
  const add = (v: Violation) => {
    if (violations.length < 200) violations.push(v);
  };
  const byEpoch = membersByEpoch(records, violations);
  const sent = new Map(records.sends.map((s) => [s.text, s]));

  const counts = new Map<string, Map<string, number>>();
  for (const [agent, received] of records.received) {
    const mine = new Map<string, number>();
    counts.set(agent, mine);
    for (const r of received) {
      mine.set(r.text, (mine.get(r.text) ?? 0) + 1);
      if (!sent.has(r.text)) add({ kind: "unknown", detail: `${agent} received '${r.text}', which nobody sent` });
    }
    for (const [text, n] of mine) if (n > 1) add({ kind: "duplicate", detail: `${agent} received '${text}' ${n} times` });
  }

  const bySeq = new Map(records.archive.map((f) => [f.seq, f]));
  // The epoch in force at each place of the archive: one past the last winning commit's.
  const commits = records.archive.filter((f) => f.type === "GroupCommit").map((f) => ({ seq: f.seq, after: (f.epoch ?? 0) + 1 }));
  const epochAt = (seq: number) => commits.filter((c) => c.seq < seq).reduce((e, c) => Math.max(e, c.after), 0);

  let deliveriesChecked = 0;
  let unchecked = 0;
  let fromRemovedSenders = 0;
  let answeredToDeadCaller = 0;
  const delivered = new Map([...records.finals].map(([agent, f]) => [agent, new Set(f.delivered)]));
  for (const s of records.sends) {
    if (!s.acked || s.seq === undefined) continue;
    const frame = bySeq.get(s.seq);
    if (frame === undefined || frame.type !== "Msg" || frame.epoch === undefined) {
      add({ kind: "not_in_archive", detail: `'${s.text}' was acked at seq ${s.seq}, which the archive does not hold as a Msg` });
      continue;
    }
    const members = byEpoch.get(frame.epoch);
    if (members === undefined) {
      unchecked++;
      continue;
    }
    // Later epochs up to the message's place: a member removed in between cannot read it.
    const stillThere = (agent: string) => {
      for (let e = frame.epoch! + 1; e <= epochAt(s.seq!); e++) {
        const later = byEpoch.get(e);
        if (later !== undefined && !later.includes(agent)) return false;
      }
      return true;
    };
    if (!stillThere(s.sender)) {
      fromRemovedSenders++;
      continue;
    }
    for (const agent of members) {
      if (agent === s.sender || !stillThere(agent)) continue;
      deliveriesChecked++;
      const n = counts.get(agent)?.get(s.text) ?? 0;
      if (n === 0 && delivered.get(agent)?.has(s.seq)) answeredToDeadCaller++;
      else if (n === 0) add({ kind: "lost", detail: `${agent} never received '${s.text}' (seq ${s.seq}, epoch ${frame.epoch}, ordered in epoch ${epochAt(s.seq)})` });
    }
  }

  const generations = new Map<string, Set<string>>();
  for (const seen of records.seen.values()) {
    for (const s of seen) {
      const key = `${s.channel}|${s.epoch}|${s.leaf}|${s.ratchet}|${s.generation}`;
      const digests = generations.get(key) ?? new Set<string>();
      digests.add(s.digest);
      generations.set(key, digests);
    }
  }
  for (const [key, digests] of generations) {
    if (digests.size > 1) add({ kind: "reused_generation", detail: `${key} carried ${digests.size} different ciphertexts` });
  }

  const finals = [...records.finals].filter((e): e is [string, FinalMember] => e[1].member);
  const names = finals.map(([n]) => n).sort();
  for (const [agent, f] of finals) {
    const [, first] = finals[0]!;
    if (f.epoch !== first.epoch || f.authenticator !== first.authenticator) {
      add({ kind: "epoch_differs", detail: `${agent} ends at epoch ${f.epoch} (${f.authenticator.slice(0, 8)}), ${finals[0]![0]} at ${first.epoch} (${first.authenticator.slice(0, 8)})` });
    }
    if ([...f.members].sort().join(",") !== names.join(",")) {
      add({ kind: "epoch_differs", detail: `${agent} ends with members [${f.members}], but the agents holding the channel are [${names}]` });
    }
  }
  return { violations, deliveriesChecked, answeredToDeadCaller, unchecked, fromRemovedSenders, generationsSeen: generations.size };
}
