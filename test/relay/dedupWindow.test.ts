// Retries are recognised from a bounded window of each channel's newest message ids held in
// memory (no unique index on disk): within the window a retry gets its first seq and is not
// archived twice, also after a restart and after a rolled-back batch; beyond it, it is archived
// again; a pruned-empty channel never reuses a seq.
import { describe, expect, it } from "vitest";
import { SqliteArchive } from "../../src/relay/sqliteArchive.js";
import { tempDir } from "../helpers.js";

const ch = new Uint8Array([7, 7, 7]);
const other = new Uint8Array([8, 8, 8]);
const body = (n: number) => new Uint8Array(64).fill(0).map((_, i) => (i === 0 ? n & 0xff : i === 1 ? n >> 8 : i));
const small = { frames: 8, channels: 1 };

describe("the relay's dedup window", () => {
  it("a retry within the window gets its first seq and is archived once, also after a restart", () => {
    const dir = tempDir();
    const log = new SqliteArchive(dir, { dedupWindow: small });
    for (let i = 1; i <= 5; i++) expect(log.append(ch, "Msg", body(i), "a")).toEqual({ kind: "stored", seq: BigInt(i), duplicate: false });
    expect(log.append(ch, "Msg", body(2), "a")).toEqual({ kind: "stored", seq: 2n, duplicate: true });
    log.close();

    const again = new SqliteArchive(dir, { dedupWindow: small });
    expect(again.append(ch, "Msg", body(3), "a")).toEqual({ kind: "stored", seq: 3n, duplicate: true });
    expect(again.append(ch, "Msg", body(6), "a")).toEqual({ kind: "stored", seq: 6n, duplicate: false });
    expect(again.read(ch, 1n, 100).map((f) => f.body[0])).toEqual([1, 2, 3, 4, 5, 6]);
    again.close();
  });

  it("a repeated winning commit still gets its first result after a restart", () => {
    const dir = tempDir();
    const log = new SqliteArchive(dir, { dedupWindow: small });
    expect(log.appendHandshake(ch, "GroupCommit", body(1), "a", 3n, undefined)).toEqual({ kind: "accepted", seq: 1n, epoch: 4n, duplicate: false });
    log.close();
    const again = new SqliteArchive(dir, { dedupWindow: small });
    expect(again.appendHandshake(ch, "GroupCommit", body(1), "a", 3n, undefined)).toEqual({ kind: "accepted", seq: 1n, epoch: 4n, duplicate: true });
    again.close();
  });

  it("holds the last `frames` ids of a channel: an older retry is archived again", () => {
    const log = new SqliteArchive(tempDir(), { dedupWindow: small });
    for (let i = 1; i <= 12; i++) log.append(ch, "Msg", body(i), "a");
    expect(log.append(ch, "Msg", body(5), "a")).toEqual({ kind: "stored", seq: 5n, duplicate: true });
    expect(log.append(ch, "Msg", body(4), "a")).toEqual({ kind: "stored", seq: 13n, duplicate: false });
    expect(log.append(ch, "Msg", body(4), "a")).toEqual({ kind: "stored", seq: 13n, duplicate: true });
    for (let i = 14; i <= 21; i++) log.append(ch, "Msg", body(100 + i), "a");
    expect(log.append(ch, "Msg", body(4), "a")).toEqual({ kind: "stored", seq: 22n, duplicate: false });
    log.close();
  });

  it("a body archived twice (beyond an older, smaller window) is found at its newest seq after a restart with a larger one", () => {
    const dir = tempDir();
    const log = new SqliteArchive(dir, { dedupWindow: small });
    for (let i = 1; i <= 9; i++) log.append(ch, "Msg", body(i), "a");
    expect(log.append(ch, "Msg", body(1), "a")).toEqual({ kind: "stored", seq: 10n, duplicate: false });
    log.close();
    const larger = new SqliteArchive(dir, { dedupWindow: { frames: 16, channels: 1 } });
    for (let i = 11; i <= 17; i++) larger.append(ch, "Msg", body(i), "a");
    expect(larger.append(ch, "Msg", body(1), "a")).toEqual({ kind: "stored", seq: 10n, duplicate: true });
    larger.close();
  });

  it("channels beyond the cache read their window back from the database", () => {
    const log = new SqliteArchive(tempDir(), { dedupWindow: small });
    log.append(ch, "Msg", body(1), "a");
    log.append(other, "Msg", body(1), "a");
    log.append(ch, "Msg", body(2), "a");
    expect(log.append(other, "Msg", body(1), "a")).toEqual({ kind: "stored", seq: 1n, duplicate: true });
    expect(log.append(ch, "Msg", body(1), "a")).toEqual({ kind: "stored", seq: 1n, duplicate: true });
    expect(log.append(other, "Msg", body(2), "a")).toEqual({ kind: "stored", seq: 2n, duplicate: false });
    log.close();
  });

  it("a rolled-back batch leaves no trace: its frames are neither duplicates nor counted", () => {
    const log = new SqliteArchive(tempDir(), { dedupWindow: small });
    log.append(ch, "Msg", body(1), "a");
    expect(() =>
      log.atomically(() => {
        log.append(ch, "Msg", body(2), "a");
        log.append(other, "Msg", body(2), "a");
        throw new Error("storage failed");
      }),
    ).toThrow("storage failed");
    expect(log.lastSeq(ch)).toBe(1n);
    expect(log.append(ch, "Msg", body(2), "a")).toEqual({ kind: "stored", seq: 2n, duplicate: false });
    expect(log.append(other, "Msg", body(2), "a")).toEqual({ kind: "stored", seq: 1n, duplicate: false });
    log.close();
  });

  it("a failed handshake inside a batch keeps the batch's other frames and their seqs", () => {
    const log = new SqliteArchive(tempDir(), { dedupWindow: small });
    log.atomically(() => {
      log.append(ch, "Msg", body(1), "a");
      const failing = { verify: () => { throw new Error("bug"); }, nextKey: new Uint8Array(32) };
      log.appendHandshake(ch, "GroupCommit", body(2), "a", 0n, undefined, { verify: () => true, nextKey: new Uint8Array(32) });
      expect(() => log.appendHandshake(ch, "GroupCommit", body(3), "a", 1n, undefined, failing)).toThrow("bug");
      expect(log.append(ch, "Msg", body(4), "a")).toEqual({ kind: "stored", seq: 3n, duplicate: false });
      expect(log.append(ch, "Msg", body(1), "a")).toEqual({ kind: "stored", seq: 1n, duplicate: true });
    });
    expect(log.read(ch, 1n, 10).map((f) => [f.seq, f.body[0]])).toEqual([[1n, 1], [2n, 2], [3n, 4]]);
    log.close();
  });

  it("a channel pruned empty goes on from its last seq, after a restart too", () => {
    const dir = tempDir();
    let now = 1_000_000;
    const log = new SqliteArchive(dir, { now: () => now, dedupWindow: small });
    for (let i = 1; i <= 3; i++) log.append(ch, "Msg", body(i), "a");
    now += 10_000;
    expect(log.prune(now, 5_000, 1 << 20)).toBe(3);
    log.close();
    const again = new SqliteArchive(dir, { dedupWindow: small });
    expect(again.lastSeq(ch)).toBe(3n);
    expect(again.append(ch, "Msg", body(4), "a")).toEqual({ kind: "stored", seq: 4n, duplicate: false });
    again.close();
  });
});
