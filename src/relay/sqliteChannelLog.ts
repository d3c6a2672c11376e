import { createHash } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BACKSTOP_CHECKPOINT_PAGES, BackgroundCheckpointer } from "./checkpointer.js";
import type { ChannelFrame, ChannelLog, CommitAuthorization, HandshakeResult, InboxItem, StoredKind } from "./channelLog.js";

export const RELAY_DATABASE_FILE = "relay.db";

/*
 * The frames table is a rowid table: its rows carry whole MLS messages (2 KiB and more), which in
 * a WITHOUT ROWID table spill into an overflow page each. Databases made before keep their
 * WITHOUT ROWID frames table; every statement here works on both layouts.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS channels (
    id BLOB PRIMARY KEY,
    epoch INTEGER,
    epoch_seq INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    commit_key BLOB
  );
  CREATE TABLE IF NOT EXISTS frames (
    channel BLOB NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    msg_id BLOB NOT NULL,
    body BLOB NOT NULL,
    sender TEXT NOT NULL,
    epoch_after INTEGER,
    stored_at INTEGER NOT NULL,
    PRIMARY KEY (channel, seq)
  );
  CREATE UNIQUE INDEX IF NOT EXISTS frames_msg_id ON frames (channel, msg_id);
  CREATE TABLE IF NOT EXISTS inbox_heads (agent TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS inbox (
    agent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    PRIMARY KEY (agent, seq)
  ) WITHOUT ROWID;
  CREATE TABLE IF NOT EXISTS key_packages (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    agent TEXT NOT NULL,
    body BLOB NOT NULL,
    last_resort INTEGER NOT NULL
  );
  CREATE INDEX IF NOT EXISTS key_packages_agent ON key_packages (agent, last_resort, id);
`;

/** Message ids: the relay drops a body it has archived before (a client's retry). */
function msgId(body: Uint8Array): Buffer {
  return createHash("sha256").update(body).digest().subarray(0, 16);
}

interface ChannelRow {
  epoch: number | null;
  epoch_seq: number;
  last_seq: number;
  commit_key: Buffer | null;
}

/** SQLite's default checkpoint threshold, in pages, used again if the background thread fails. */
const DEFAULT_CHECKPOINT_PAGES = 1000;

/**
 * The embedded ChannelLog: one SQLite file in WAL mode. Every append is one transaction, so a
 * frame acknowledged to a client survives a crash of the relay process. `synchronous=NORMAL`
 * (default) may lose the last transactions on a power cut; `durability: "full"` fsyncs each one.
 * Checkpoints (copying the log into the database file) run on a background thread.
 */
export class SqliteChannelLog implements ChannelLog {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly checkpointer: BackgroundCheckpointer;

  constructor(dataDir: string, options: { durability?: "normal" | "full"; now?: () => number } = {}) {
    const path = join(dataDir, RELAY_DATABASE_FILE);
    closeSync(openSync(path, "a", 0o600));
    this.db = new Database(path);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
    this.db.exec(SCHEMA);
    // Data dirs from before commit keys: add the column (SQLite has no ADD COLUMN IF NOT EXISTS).
    const columns = this.db.prepare("SELECT name FROM pragma_table_info('channels')").all() as { name: string }[];
    if (!columns.some((c) => c.name === "commit_key")) this.db.exec("ALTER TABLE channels ADD COLUMN commit_key BLOB");
    this.db.pragma(`wal_autocheckpoint = ${BACKSTOP_CHECKPOINT_PAGES}`);
    this.checkpointer = new BackgroundCheckpointer(path, () => {
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${DEFAULT_CHECKPOINT_PAGES}`);
    });
    const now = options.now ?? Date.now;
    this.now = now;
    const db = this.db;
    this.stmt = {
      channel: db.prepare("SELECT epoch, epoch_seq, last_seq, commit_key FROM channels WHERE id = ?"),
      setCommitKey: db.prepare("UPDATE channels SET commit_key = ? WHERE id = ?"),
      createChannel: db.prepare("INSERT OR IGNORE INTO channels (id) VALUES (?)"),
      bumpSeq: db.prepare("UPDATE channels SET last_seq = last_seq + 1 WHERE id = ? RETURNING last_seq"),
      setEpoch: db.prepare("UPDATE channels SET epoch = ?, epoch_seq = ? WHERE id = ?"),
      byMsgId: db.prepare("SELECT seq, epoch_after FROM frames WHERE channel = ? AND msg_id = ?"),
      insertFrame: db.prepare(
        "INSERT INTO frames (channel, seq, kind, msg_id, body, sender, epoch_after, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      read: db.prepare("SELECT seq, kind, body, sender FROM frames WHERE channel = ? AND seq >= ? ORDER BY seq LIMIT ?"),
      inboxHead: db.prepare("SELECT last_seq FROM inbox_heads WHERE agent = ?"),
      bumpInbox: db.prepare(
        "INSERT INTO inbox_heads (agent, last_seq) VALUES (?, 1) ON CONFLICT (agent) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
      ),
      insertInbox: db.prepare("INSERT INTO inbox (agent, seq, envelope) VALUES (?, ?, ?)"),
      readInbox: db.prepare("SELECT seq, envelope FROM inbox WHERE agent = ? AND seq >= ? ORDER BY seq LIMIT ?"),
      ackInbox: db.prepare("DELETE FROM inbox WHERE agent = ? AND seq <= ?"),
      inboxSize: db.prepare("SELECT count(*) AS n FROM inbox WHERE agent = ?"),
      publishKp: db.prepare("INSERT INTO key_packages (agent, body, last_resort) VALUES (?, ?, ?)"),
      dropLastResort: db.prepare("DELETE FROM key_packages WHERE agent = ? AND last_resort = 1"),
      nextKp: db.prepare("SELECT id, body, last_resort FROM key_packages WHERE agent = ? ORDER BY last_resort, id LIMIT 1"),
      deleteKp: db.prepare("DELETE FROM key_packages WHERE id = ?"),
      countKp: db.prepare("SELECT count(*) AS n FROM key_packages WHERE agent = ? AND last_resort = 0"),
      pruneOld: db.prepare("DELETE FROM frames WHERE stored_at < ?"),
      channelBytes: db.prepare("SELECT channel, sum(length(body)) AS bytes FROM frames GROUP BY channel HAVING bytes > ?"),
      oldestFrames: db.prepare("SELECT seq, length(body) AS size FROM frames WHERE channel = ? ORDER BY seq"),
      deleteUpTo: db.prepare("DELETE FROM frames WHERE channel = ? AND seq <= ?"),
      stats: db.prepare("SELECT (SELECT count(*) FROM channels) AS channels, (SELECT coalesce(sum(length(body)), 0) FROM frames) AS bytes"),
    };
  }

  private readonly now: () => number;

  private store(channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string, id: Buffer, epochAfter: bigint | null): bigint {
    // The hot path is one UPDATE; a new channel's row is made on the first miss. (No in-memory
    // "known channels" cache: a rolled-back transaction would leave it claiming a row that is gone.)
    let bumped = this.stmt.bumpSeq.get(channel) as { last_seq: number } | undefined;
    if (bumped === undefined) {
      this.stmt.createChannel.run(channel);
      bumped = this.stmt.bumpSeq.get(channel) as { last_seq: number };
    }
    this.stmt.insertFrame.run(channel, bumped.last_seq, kind, id, body, from, epochAfter, this.now());
    return BigInt(bumped.last_seq);
  }

  atomically(fn: () => void): void {
    this.db.transaction(fn)();
  }

  append(channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string): { seq: bigint; duplicate: boolean } {
    const run = () => {
      const id = msgId(body);
      const seen = this.stmt.byMsgId.get(channel, id) as { seq: number } | undefined;
      if (seen !== undefined) return { seq: BigInt(seen.seq), duplicate: true };
      return { seq: this.store(channel, kind, body, from, id, null), duplicate: false };
    };
    // Inside a batch (group commit) the batch's transaction already makes this atomic; a savepoint
    // per message would cost more than the insert itself.
    return this.db.inTransaction ? run() : this.db.transaction(run)();
  }

  appendHandshake(
    channel: Uint8Array,
    kind: "GroupProposal" | "GroupCommit",
    body: Uint8Array,
    from: string,
    epoch: bigint,
    welcome: { recipients: readonly string[]; envelope: (commitSeq: bigint) => Uint8Array } | undefined,
    authorization?: CommitAuthorization,
  ): HandshakeResult {
    return this.db.transaction((): HandshakeResult => {
      const id = msgId(body);
      const seen = this.stmt.byMsgId.get(channel, id) as { seq: number; epoch_after: number | null } | undefined;
      if (seen !== undefined) {
        return { kind: "accepted", seq: BigInt(seen.seq), epoch: BigInt(seen.epoch_after ?? epoch), duplicate: true };
      }
      const row = this.stmt.channel.get(channel) as ChannelRow | undefined;
      if (row?.epoch != null && BigInt(row.epoch) !== epoch) {
        return { kind: "stale", epoch: BigInt(row.epoch), winningSeq: BigInt(row.epoch_seq) };
      }
      const key = row?.commit_key ?? null;
      if (kind === "GroupCommit" && key !== null && !(authorization?.verify(new Uint8Array(key)) ?? false)) return { kind: "unauthorized" };
      const after = kind === "GroupCommit" ? epoch + 1n : epoch;
      const seq = this.store(channel, kind, body, from, id, after);
      if (kind === "GroupCommit" && authorization !== undefined) this.stmt.setCommitKey.run(authorization.nextKey, channel);
      if (kind === "GroupCommit" || row?.epoch == null) {
        this.stmt.setEpoch.run(after, kind === "GroupCommit" ? seq : (row?.epoch_seq ?? 0), channel);
      }
      if (kind === "GroupCommit" && welcome !== undefined) {
        const envelope = welcome.envelope(seq);
        for (const agent of new Set(welcome.recipients)) this.insertInbox(agent, envelope);
      }
      return { kind: "accepted", seq, epoch: after, duplicate: false };
    })();
  }

  read(channel: Uint8Array, fromSeq: bigint, limit: number): ChannelFrame[] {
    const rows = this.stmt.read.all(channel, fromSeq, limit) as { seq: number; kind: StoredKind; body: Buffer; sender: string }[];
    return rows.map((r) => ({ seq: BigInt(r.seq), kind: r.kind, body: new Uint8Array(r.body), from: r.sender }));
  }

  lastSeq(channel: Uint8Array): bigint {
    return BigInt((this.stmt.channel.get(channel) as ChannelRow | undefined)?.last_seq ?? 0);
  }

  private insertInbox(agent: string, envelope: Uint8Array): bigint {
    const { last_seq } = this.stmt.bumpInbox.get(agent) as { last_seq: number };
    this.stmt.insertInbox.run(agent, last_seq, envelope);
    return BigInt(last_seq);
  }

  appendInbox(agent: string, envelope: Uint8Array): bigint {
    return this.db.transaction(() => this.insertInbox(agent, envelope))();
  }

  readInbox(agent: string, fromSeq: bigint, limit: number): InboxItem[] {
    const rows = this.stmt.readInbox.all(agent, fromSeq, limit) as { seq: number; envelope: Buffer }[];
    return rows.map((r) => ({ seq: BigInt(r.seq), envelope: new Uint8Array(r.envelope) }));
  }

  ackInbox(agent: string, upToSeq: bigint): void {
    this.stmt.ackInbox.run(agent, upToSeq);
  }

  lastInboxSeq(agent: string): bigint {
    return BigInt((this.stmt.inboxHead.get(agent) as { last_seq: number } | undefined)?.last_seq ?? 0);
  }

  inboxSize(agent: string): number {
    return (this.stmt.inboxSize.get(agent) as { n: number }).n;
  }

  publishKeyPackage(agent: string, keyPackage: Uint8Array, lastResort: boolean): void {
    this.db.transaction(() => {
      if (lastResort) this.stmt.dropLastResort.run(agent);
      this.stmt.publishKp.run(agent, keyPackage, lastResort ? 1 : 0);
    })();
  }

  keyPackageCount(agent: string): number {
    return (this.stmt.countKp.get(agent) as { n: number }).n;
  }

  takeKeyPackage(agent: string): Uint8Array | undefined {
    return this.db.transaction(() => {
      const row = this.stmt.nextKp.get(agent) as { id: number; body: Buffer; last_resort: number } | undefined;
      if (row === undefined) return undefined;
      if (row.last_resort === 0) this.stmt.deleteKp.run(row.id);
      return new Uint8Array(row.body);
    })();
  }

  prune(nowMs: number, olderThanMs: number, maxBytesPerChannel: number): number {
    return this.db.transaction(() => {
      let removed = this.stmt.pruneOld.run(nowMs - olderThanMs).changes;
      const big = this.stmt.channelBytes.all(maxBytesPerChannel) as { channel: Buffer; bytes: number }[];
      for (const { channel, bytes } of big) {
        let excess = bytes - maxBytesPerChannel;
        let upTo = 0;
        for (const f of this.stmt.oldestFrames.iterate(channel) as Iterable<{ seq: number; size: number }>) {
          if (excess <= 0) break;
          excess -= f.size;
          upTo = f.seq;
        }
        removed += this.stmt.deleteUpTo.run(channel, upTo).changes;
      }
      return removed;
    })();
  }

  stats(): { channels: number; archiveBytes: number } {
    const row = this.stmt.stats.get() as { channels: number; bytes: number };
    return { channels: row.channels, archiveBytes: row.bytes };
  }

  close(): void {
    this.checkpointer.stop();
    this.db.close();
  }
}
