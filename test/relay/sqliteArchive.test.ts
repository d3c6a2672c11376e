import { describe, expect, it } from "vitest";
import { SqliteArchive } from "../../src/relay/sqliteArchive.js";
import { tempDir } from "../helpers.js";
import { openedLog, signed } from "./logFixture.js";

const ch = new Uint8Array([1, 2, 3]);
const body = (n: number, size = 10) => new Uint8Array(size).fill(n);
const opened = (dir = tempDir(), options: ConstructorParameters<typeof SqliteArchive>[1] = {}) => openedLog(dir, options, ch);

describe("SqliteArchive", () => {
  it("accepts nothing on a channel before it is opened, and one opening only (its creator's retry answers the same)", () => {
    const log = new SqliteArchive(tempDir());
    expect(log.append(ch, "JoinRequest", body(1), "a")).toEqual({ kind: "unknown" });
    expect(log.appendMessage(ch, body(1), "a", 0n)).toEqual({ kind: "unknown" });
    expect(log.appendHandshake(ch, "GroupProposal", body(1), "a", 0n, undefined)).toEqual({ kind: "unknown" });
    expect(log.openChannel(ch, "a", new Uint8Array(32))).toBe("opened");
    expect(log.openChannel(ch, "a", new Uint8Array(32))).toBe("reopened");
    expect(log.openChannel(ch, "m", new Uint8Array(32))).toBe("taken");
    expect(log.lastSeq(ch)).toBe(0n);
    log.close();
  });

  it("compare-and-set on the epoch: an opened channel is at epoch 0, commits advance it, anything else is stale", () => {
    const log = opened();
    expect(log.appendHandshake(ch, "GroupProposal", body(1), "a", 5n, undefined)).toEqual({ kind: "stale", epoch: 0n, winningSeq: 0n });
    expect(log.appendHandshake(ch, "GroupProposal", body(1), "a", 0n, undefined)).toMatchObject({ kind: "accepted", seq: 1n, epoch: 0n });
    expect(log.appendHandshake(ch, "GroupCommit", body(3), "b", 0n, undefined, signed)).toEqual({ kind: "accepted", seq: 2n, epoch: 1n, duplicate: false });
    expect(log.appendHandshake(ch, "GroupCommit", body(4), "c", 0n, undefined, signed)).toEqual({ kind: "stale", epoch: 1n, winningSeq: 2n });
    expect(log.appendHandshake(ch, "GroupCommit", body(3), "b", 0n, undefined, signed)).toEqual({ kind: "accepted", seq: 2n, epoch: 1n, duplicate: true });
    expect(log.appendHandshake(ch, "GroupCommit", body(5), "b", 1n, undefined)).toEqual({ kind: "unauthorized" });
    expect(log.appendMessage(ch, body(6), "b", 2n)).toEqual({ kind: "ahead", epoch: 1n });
    log.close();
  });

  it("names belong to the first principal that claims them, unless a token binds them", () => {
    const log = new SqliteArchive(tempDir());
    expect(log.claimName("bob", "k1", false)).toBe(true);
    expect(log.claimName("bob", "k2", false)).toBe(false);
    expect(log.nameOwner("bob")).toBe("k1");
    expect(log.claimName("bob", "k2", true)).toBe(true);
    expect(log.nameOwner("bob")).toBe("k2");
    expect(log.nameOwner("nobody")).toBeUndefined();
    log.close();
  });

  it("a winning commit's Welcome lands in every recipient inbox in the same step", () => {
    const log = opened();
    const welcome = { recipients: ["x", "y", "x"], envelope: () => body(9) };
    log.appendHandshake(ch, "GroupCommit", body(1), "a", 0n, welcome, signed);
    expect(log.appendHandshake(ch, "GroupCommit", body(2), "a", 0n, { recipients: ["z"], envelope: () => body(8) }, signed)).toMatchObject({ kind: "stale" });
    expect(log.readInbox("x", 1n, 10)).toEqual([{ seq: 1n, envelope: body(9) }]);
    expect(log.readInbox("y", 1n, 10)).toHaveLength(1);
    expect(log.readInbox("z", 1n, 10)).toEqual([]);
    log.close();
  });

  it("keeps state across a reopen", () => {
    const dir = tempDir();
    const log = opened(dir);
    log.append(ch, "Msg", body(1), "a");
    log.appendHandshake(ch, "GroupCommit", body(2), "a", 0n, undefined, signed);
    log.close();
    const again = new SqliteArchive(dir);
    expect(again.lastSeq(ch)).toBe(2n);
    expect(again.appendHandshake(ch, "GroupCommit", body(3), "a", 0n, undefined, signed)).toMatchObject({ kind: "stale", epoch: 1n });
    expect(again.openChannel(ch, "a", new Uint8Array(32))).toBe("reopened");
    again.close();
  });

  it("retention: drops frames by age and keeps each channel under its size cap", () => {
    let now = 1_000_000;
    const log = opened(tempDir(), { now: () => now });

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
