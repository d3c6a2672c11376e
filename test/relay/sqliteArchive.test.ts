import { describe, expect, it } from "vitest";
import { SqliteArchive } from "../../src/relay/sqliteArchive.js";
import { tempDir } from "../helpers.js";

const ch = new Uint8Array([1, 2, 3]);
const body = (n: number, size = 10) => new Uint8Array(size).fill(n);

describe("SqliteArchive", () => {
  it("compare-and-set on the epoch: first handshake sets it, commits advance it, stale ones are refused", () => {
    const log = new SqliteArchive(tempDir());
    expect(log.appendHandshake(ch, "GroupProposal", body(1), "a", 5n, undefined)).toMatchObject({ kind: "accepted", seq: 1n, epoch: 5n });
    expect(log.appendHandshake(ch, "GroupCommit", body(2), "a", 4n, undefined)).toEqual({ kind: "stale", epoch: 5n, winningSeq: 0n });
    expect(log.appendHandshake(ch, "GroupCommit", body(3), "b", 5n, undefined)).toEqual({ kind: "accepted", seq: 2n, epoch: 6n, duplicate: false });
    expect(log.appendHandshake(ch, "GroupCommit", body(4), "c", 5n, undefined)).toEqual({ kind: "stale", epoch: 6n, winningSeq: 2n });
    expect(log.appendHandshake(ch, "GroupCommit", body(3), "b", 5n, undefined)).toEqual({ kind: "accepted", seq: 2n, epoch: 6n, duplicate: true });
    log.close();
  });

  it("a winning commit's Welcome lands in every recipient inbox in the same step", () => {
    const log = new SqliteArchive(tempDir());
    const welcome = { recipients: ["x", "y", "x"], envelope: () => body(9) };
    log.appendHandshake(ch, "GroupCommit", body(1), "a", 0n, welcome);
    expect(log.appendHandshake(ch, "GroupCommit", body(2), "a", 0n, { recipients: ["z"], envelope: () => body(8) })).toMatchObject({ kind: "stale" });
    expect(log.readInbox("x", 1n, 10)).toEqual([{ seq: 1n, envelope: body(9) }]);
    expect(log.readInbox("y", 1n, 10)).toHaveLength(1);
    expect(log.readInbox("z", 1n, 10)).toEqual([]);
    log.close();
  });

  it("keeps state across a reopen", () => {
    const dir = tempDir();
    const log = new SqliteArchive(dir);
    log.append(ch, "Msg", body(1), "a");
    log.appendHandshake(ch, "GroupCommit", body(2), "a", 3n, undefined);
    log.close();
    const again = new SqliteArchive(dir);
    expect(again.lastSeq(ch)).toBe(2n);
    expect(again.appendHandshake(ch, "GroupCommit", body(3), "a", 3n, undefined)).toMatchObject({ kind: "stale", epoch: 4n });
    again.close();
  });

  it("retention: drops frames by age and keeps each channel under its size cap", () => {
    let now = 1_000_000;
    const log = new SqliteArchive(tempDir(), { now: () => now });
    for (let i = 0; i < 5; i++) log.append(ch, "Msg", body(i, 100), "a");
    now += 10_000;
    for (let i = 5; i < 10; i++) log.append(ch, "Msg", body(i, 100), "a");
    expect(log.prune(now, 5_000, 1 << 20)).toBe(5);
    expect(log.read(ch, 1n, 100).map((f) => f.seq)).toEqual([6n, 7n, 8n, 9n, 10n]);
    expect(log.prune(now, 1 << 30, 250)).toBe(3);
    expect(log.read(ch, 1n, 100).map((f) => f.seq)).toEqual([9n, 10n]);
    expect(log.stats()).toEqual({ channels: 1, archiveBytes: 200 });
    log.close();
  });
});
