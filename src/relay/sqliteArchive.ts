import { hash } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { BACKSTOP_CHECKPOINT_BYTES, BackgroundCheckpointer } from "./checkpointer.js";
import {
  MAX_KEY_PACKAGES,
  MSG_EPOCH_SLACK,
  type AppendResult,
  type CommitAuthorization,
  type HandshakeResult,
  type InboxAppendResult,
  type InboxBound,
  type InboxItem,
  type KeyPackagePublished,
  type MessageResult,
  type OpenResult,
  type StoredKind,
} from "./channelLog.js";
import { RecentFrames, RecentFramesCache } from "./recentFrames.js";

export const RELAY_DATABASE_FILE = "relay.db";

/*
 * The frames table is a rowid table: its rows carry whole MLS messages (2 KiB and more), which in
 * a WITHOUT ROWID table spill into an overflow page each. Databases made before keep their
 * WITHOUT ROWID frames table; every statement here works on both layouts.
 *
 * Retries are found by message id in memory (RecentFrames), not through a unique index on
 * (channel, msg_id): inserting random ids into that index dirtied many pages per batch. msg_id is
 * still stored, to fill the window again after a restart. channels.last_seq is only a floor (it
 * keeps a pruned channel's seq from going back); a channel's last seq is the larger of it and
 * its newest frame's seq. A channel has its row from the moment its creator opens it (`creator`,
 * its principal); rows from before openings have no creator and count as open.
 */
const SCHEMA = `
  CREATE TABLE IF NOT EXISTS channels (
    id BLOB PRIMARY KEY,
    epoch INTEGER,
    epoch_seq INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    commit_key BLOB,
    creator TEXT
  );
  CREATE TABLE IF NOT EXISTS names (name TEXT PRIMARY KEY, principal TEXT NOT NULL);
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
  DROP INDEX IF EXISTS frames_msg_id;
  CREATE TABLE IF NOT EXISTS inbox_heads (agent TEXT PRIMARY KEY, last_seq INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS inbox (
    agent TEXT NOT NULL,
    seq INTEGER NOT NULL,
    envelope BLOB NOT NULL,
    sender TEXT,
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
  return hash("sha256", body, "buffer").subarray(0, 16);
}

/** A retry is recognised if its first copy is among the channel's last this many frames. */
export const DEDUP_WINDOW_FRAMES = 4096;
/**
 * Channels whose windows are held in memory (at most ~280 KiB each when full); a channel beyond
 * them reads its window back from the database when next used (a few ms).
 */
export const DEDUP_WINDOW_CHANNELS = 128;

interface ChannelRow {
  epoch: number | null;
  epoch_seq: number;
  commit_key: Buffer | null;
  creator: string | null;
}

/** A principal is the hex of a 32-byte identity key. */
const PRINCIPAL_LENGTH = 64;

/** SQLite's default checkpoint threshold (1,000 pages of 4 KiB), used again if the background thread fails. */
const DEFAULT_CHECKPOINT_BYTES = 1000 * 4096;
/**
 * Page size of new relay databases. A 2 KiB message with its row is just over half a 4 KiB page,
 * so each took a page of its own (written to the log, then again to the database file); three fit
 * in 8 KiB. Databases made before keep their page size (SQLite cannot change it in WAL mode).
 */
const NEW_DATABASE_PAGE_SIZE = 8192;

/** A frame as the archive holds it. */
export interface ArchivedFrame {
  readonly seq: bigint;
  readonly kind: StoredKind;
  readonly body: Uint8Array;
  /** The principal that sent it. */
  readonly from: string;
}

/** A winning commit's Welcome: the envelope for each recipient, unless an inbox is full. */
export interface ArchivedWelcome {
  readonly recipients: readonly string[];
  readonly envelope: (commitSeq: bigint) => Uint8Array;
  /** Refuse the commit if a recipient's inbox holds this many items already. */
  readonly maxInboxItems?: number;
}

/**
 * The embedded archive: one SQLite file in WAL mode, synchronous. Every append is one
 * transaction (or part of the caller's `atomically`), so a frame acknowledged to a client
 * survives a crash of the relay process. `synchronous=NORMAL` (default) may lose the last
 * transactions on a power cut; `durability: "full"` fsyncs each one. Checkpoints (copying the log
 * into the database file) run on a background thread. SqliteChannelLog puts it behind the
 * relay's ChannelLog seam.
 */
export class SqliteArchive {
  private readonly db: Database.Database;
  private readonly stmt;
  private readonly checkpointer: BackgroundCheckpointer;

  constructor(dataDir: string, options: { durability?: "normal" | "full"; now?: () => number; dedupWindow?: { frames: number; channels: number } } = {}) {
    const path = join(dataDir, RELAY_DATABASE_FILE);
    closeSync(openSync(path, "a", 0o600));
    this.db = new Database(path);
    this.db.pragma(`page_size = ${NEW_DATABASE_PAGE_SIZE}`);
    this.db.pragma("journal_mode = WAL");
    this.db.pragma(`synchronous = ${options.durability === "full" ? "FULL" : "NORMAL"}`);
    this.db.exec(SCHEMA);
    upgrade(this.db);
    const pageSize = this.db.pragma("page_size", { simple: true }) as number;
    this.db.pragma(`wal_autocheckpoint = ${Math.ceil(BACKSTOP_CHECKPOINT_BYTES / pageSize)}`);
    this.checkpointer = new BackgroundCheckpointer(path, () => {
      if (this.db.open) this.db.pragma(`wal_autocheckpoint = ${Math.ceil(DEFAULT_CHECKPOINT_BYTES / pageSize)}`);
    });
    this.windowFrames = options.dedupWindow?.frames ?? DEDUP_WINDOW_FRAMES;
    this.recent = new RecentFramesCache(options.dedupWindow?.channels ?? DEDUP_WINDOW_CHANNELS);
    const now = options.now ?? Date.now;
    this.now = now;
    const db = this.db;
    this.stmt = {
      channel: db.prepare("SELECT epoch, epoch_seq, commit_key, creator FROM channels WHERE id = ?"),
      openChannel: db.prepare("INSERT INTO channels (id, epoch, epoch_seq, last_seq, commit_key, creator) VALUES (?, 0, 0, 0, ?, ?)"),
      claimName: db.prepare("INSERT INTO names (name, principal) VALUES (?, ?) ON CONFLICT (name) DO NOTHING"),
      bindName: db.prepare("INSERT INTO names (name, principal) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET principal = excluded.principal"),
      nameOwner: db.prepare("SELECT principal FROM names WHERE name = ?"),
      seqFloor: db.prepare("SELECT last_seq, epoch FROM channels WHERE id = ?"),
      recentIds: db.prepare("SELECT seq, msg_id FROM frames WHERE channel = ? ORDER BY seq DESC LIMIT ?"),
      epochAfter: db.prepare("SELECT epoch_after FROM frames WHERE channel = ? AND seq = ?"),
      keepSeqFloors: db.prepare(
        "UPDATE channels SET last_seq = newest FROM (SELECT channel, max(seq) AS newest FROM frames GROUP BY channel) WHERE id = channel AND last_seq < newest",
      ),
      setCommitKey: db.prepare("UPDATE channels SET commit_key = ? WHERE id = ?"),
      setEpoch: db.prepare("UPDATE channels SET epoch = ?, epoch_seq = ? WHERE id = ?"),
      insertFrame: db.prepare(
        "INSERT INTO frames (channel, seq, kind, msg_id, body, sender, epoch_after, stored_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      ),
      read: db.prepare("SELECT seq, kind, body, sender FROM frames WHERE channel = ? AND seq >= ? ORDER BY seq LIMIT ?"),
      inboxHead: db.prepare("SELECT last_seq FROM inbox_heads WHERE agent = ?"),
      bumpInbox: db.prepare(
        "INSERT INTO inbox_heads (agent, last_seq) VALUES (?, 1) ON CONFLICT (agent) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq",
      ),
      insertInbox: db.prepare("INSERT INTO inbox (agent, seq, envelope, sender) VALUES (?, ?, ?, ?)"),
      readInbox: db.prepare("SELECT seq, envelope FROM inbox WHERE agent = ? AND seq >= ? ORDER BY seq LIMIT ?"),
      ackInbox: db.prepare("DELETE FROM inbox WHERE agent = ? AND seq <= ?"),
      inboxSize: db.prepare("SELECT count(*) AS n FROM inbox WHERE agent = ?"),
      inboxFrom: db.prepare("SELECT count(*) AS n FROM inbox WHERE agent = ? AND sender = ?"),
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
  private readonly recent: RecentFramesCache;
  private readonly windowFrames: number;
  /** Inbox items inserted since the last takeNewInboxItems(): the relay pushes them to readers once committed. */
  private newInbox: [string, InboxItem][] = [];

  /**
   * Runs `fn` in a transaction (a savepoint inside another). If it rolls back, the windows in
   * memory may hold frames that are gone: all are dropped and read back from the database, whose
   * state (this transaction's own writes included) is what they mirror.
   */
  private transaction<T>(fn: () => T): T {
    const inboxMark = this.newInbox.length;
    try {
      return this.db.transaction(fn)();
    } catch (error) {
      this.recent.clear();
      this.newInbox.length = inboxMark;
      throw error;
    }
  }

  /** The inbox items inserted (and committed) since the last call, in order. */
  takeNewInboxItems(): [string, InboxItem][] {
    const items = this.newInbox;
    this.newInbox = [];
    return items;
  }

  /** Whether a transaction is open (so that a caller knows its work is not committed yet). */
  get inTransaction(): boolean {
    return this.db.inTransaction;
  }

  /** The channel's window, read from the database on first use. */
  private window(channel: Uint8Array): RecentFrames {
    return this.recent.get(channel, () => {
      const floor = this.stmt.seqFloor.get(channel) as { last_seq: number; epoch: number | null } | undefined;
      const rows = this.stmt.recentIds.all(channel, this.windowFrames) as { seq: number; msg_id: Buffer }[];
      const epoch = floor?.epoch == null ? null : BigInt(floor.epoch);
      const frames = new RecentFrames(this.windowFrames, Math.max(floor?.last_seq ?? 0, rows[0]?.seq ?? 0), floor !== undefined, epoch);
      for (let i = rows.length - 1; i >= 0; i--) frames.remember(rows[i]!.seq, rows[i]!.msg_id.toString("latin1"));
      return frames;
    });
  }

  /** `id` is the message id, `idKey` the same as a latin1 string (the window's key); the channel is open. */
  private store(frames: RecentFrames, channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string, id: Buffer, idKey: string, epochAfter: bigint | null): bigint {
    const seq = frames.lastSeq + 1;
    this.stmt.insertFrame.run(channel, seq, kind, id, body, from, epochAfter, this.now());
    frames.add(seq, idKey);
    return BigInt(seq);
  }

  /** Runs `fn` as one atomic unit: everything it stores is kept together, or none of it. */
  atomically(fn: () => void): void {
    this.transaction(fn);
  }

  /**
   * Opens a channel for its creator (the caller checked the creator's signature): epoch 0, whose
   * commits must be signed with `commitKey`. Channels archived before channels were opened count
   * as open, their first commit key trusted on first use.
   */
  openChannel(channel: Uint8Array, creator: string, commitKey: Uint8Array): OpenResult {
    const run = (): OpenResult => {
      const frames = this.window(channel);
      if (frames.stored) {
        const row = this.stmt.channel.get(channel) as ChannelRow | undefined;
        return row?.creator === creator ? "reopened" : "taken";
      }
      this.stmt.openChannel.run(channel, commitKey, creator);
      frames.stored = true;
      frames.epoch = 0n;
      return "opened";
    };
    return this.db.inTransaction ? run() : this.transaction(run);
  }

  /** Archives a frame that needs no ordering check; a repeated body returns its first seq. */
  append(channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string): AppendResult {
    return this.archiveOnce(channel, kind, body, from, () => undefined) as AppendResult;
  }

  /**
   * Archives an application message like `append`, unless its `epoch` is more than
   * MSG_EPOCH_SLACK behind the channel's (members keep no keys for it, so nobody could read it)
   * or ahead of it (a repeated body still returns its first seq, whatever the epoch is now).
   */
  appendMessage(channel: Uint8Array, body: Uint8Array, from: string, epoch: bigint): MessageResult {
    return this.archiveOnce(channel, "Msg", body, from, (current) => {
      if (current === null) return undefined;
      if (epoch + MSG_EPOCH_SLACK < current) return { kind: "stale", epoch: current };
      return epoch > current ? { kind: "ahead", epoch: current } : undefined;
    });
  }

  /** Archives a body once per channel, if the channel is open and `refusal` (given its epoch) has none. */
  private archiveOnce(channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string, refusal: (epoch: bigint | null) => MessageResult | undefined): MessageResult {
    const run = (): MessageResult => {
      const id = msgId(body);
      const idKey = id.toString("latin1");
      const frames = this.window(channel);
      const seen = frames.seqOf(idKey);
      if (seen !== undefined) return { kind: "stored", seq: BigInt(seen), duplicate: true };
      if (!frames.stored) return { kind: "unknown" };
      return refusal(frames.epoch) ?? { kind: "stored", seq: this.store(frames, channel, kind, body, from, id, idKey, null), duplicate: false };
    };
    // Inside a batch (group commit) the batch's transaction already makes this atomic; a savepoint
    // per message would cost more than the insert itself.
    return this.db.inTransaction ? run() : this.transaction(run);
  }

  /**
   * Archives a proposal or commit only if `epoch` is the channel's current epoch (see
   * ChannelWrite); a winning commit's Welcome goes into each recipient's inbox in the same step.
   */
  appendHandshake(
    channel: Uint8Array,
    kind: "GroupProposal" | "GroupCommit",
    body: Uint8Array,
    from: string,
    epoch: bigint,
    welcome: ArchivedWelcome | undefined,
    authorization?: CommitAuthorization,
  ): HandshakeResult {
    return this.transaction((): HandshakeResult => {
      const id = msgId(body);
      const idKey = id.toString("latin1");
      const frames = this.window(channel);
      const seen = frames.seqOf(idKey);
      if (seen !== undefined) {
        const stored = this.stmt.epochAfter.get(channel, seen) as { epoch_after: number | null } | undefined;
        return { kind: "accepted", seq: BigInt(seen), epoch: BigInt(stored?.epoch_after ?? epoch), duplicate: true };
      }
      const row = this.stmt.channel.get(channel) as ChannelRow | undefined;
      if (row === undefined) return { kind: "unknown" };
      if (row.epoch != null && BigInt(row.epoch) !== epoch) {
        return { kind: "stale", epoch: BigInt(row.epoch), winningSeq: BigInt(row.epoch_seq) };
      }
      const key = row.commit_key;
      if (kind === "GroupCommit" && key !== null && !(authorization?.verify(new Uint8Array(key)) ?? false)) return { kind: "unauthorized" };
      const limit = kind === "GroupCommit" ? welcome?.maxInboxItems : undefined;
      const full = limit === undefined ? undefined : welcome?.recipients.find((r) => this.inboxSize(r) >= limit);
      if (full !== undefined) return { kind: "inbox_full", recipient: full };
      const after = kind === "GroupCommit" ? epoch + 1n : epoch;
      const seq = this.store(frames, channel, kind, body, from, id, idKey, after);
      if (kind === "GroupCommit" && authorization !== undefined) this.stmt.setCommitKey.run(authorization.nextKey, channel);
      if (kind === "GroupCommit" || row.epoch == null) {
        this.stmt.setEpoch.run(after, kind === "GroupCommit" ? seq : row.epoch_seq, channel);
        frames.epoch = after;
      }
      if (kind === "GroupCommit" && welcome !== undefined) {
        const envelope = welcome.envelope(seq);
        for (const agent of new Set(welcome.recipients)) this.insertInbox(agent, envelope);
      }
      return { kind: "accepted", seq, epoch: after, duplicate: false };
    });
  }

  /** Frames with seq ≥ fromSeq, oldest first, at most `limit` and, past the first, `maxBytes` of bodies. */
  read(channel: Uint8Array, fromSeq: bigint, limit: number, maxBytes = Number.POSITIVE_INFINITY): ArchivedFrame[] {
    const rows = this.stmt.read.iterate(channel, fromSeq, limit) as IterableIterator<{ seq: number; kind: StoredKind; body: Buffer; sender: string }>;
    return upTo(rows, maxBytes, (r) => r.body.length).map((r) => ({ seq: BigInt(r.seq), kind: r.kind, body: new Uint8Array(r.body), from: r.sender }));
  }

  lastSeq(channel: Uint8Array): bigint {
    return BigInt(this.window(channel).lastSeq);
  }

  private insertInbox(agent: string, envelope: Uint8Array, sender: string | null = null): bigint {
    const { last_seq } = this.stmt.bumpInbox.get(agent) as { last_seq: number };
    this.stmt.insertInbox.run(agent, last_seq, envelope, sender);
    const seq = BigInt(last_seq);
    this.newInbox.push([agent, { seq, envelope }]);
    return seq;
  }

  /** Puts an envelope into an agent's inbox, unless it is full, or holds as many of its sender's as it may. */
  appendInbox(agent: string, envelope: Uint8Array, bound: InboxBound = { maxItems: Number.POSITIVE_INFINITY }): InboxAppendResult {
    return this.transaction((): InboxAppendResult => {
      if (this.inboxSize(agent) >= bound.maxItems) return { kind: "full" };
      const sender = bound.sender;
      if (sender !== undefined && (this.stmt.inboxFrom.get(agent, sender.principal) as { n: number }).n >= sender.maxItems) return { kind: "sender_full" };
      return { kind: "stored", seq: this.insertInbox(agent, envelope, sender?.principal) };
    });
  }

  /** Items with seq ≥ fromSeq, oldest first, at most `limit` and, past the first, `maxBytes`. */
  readInbox(agent: string, fromSeq: bigint, limit: number, maxBytes = Number.POSITIVE_INFINITY): InboxItem[] {
    const rows = this.stmt.readInbox.iterate(agent, fromSeq, limit) as IterableIterator<{ seq: number; envelope: Buffer }>;
    return upTo(rows, maxBytes, (r) => r.envelope.length).map((r) => ({ seq: BigInt(r.seq), envelope: new Uint8Array(r.envelope) }));
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

  /** Adds a single-use key package (at most MAX_KEY_PACKAGES), or replaces the last-resort one. */
  publishKeyPackage(agent: string, keyPackage: Uint8Array, lastResort: boolean): KeyPackagePublished {
    return this.db.transaction((): KeyPackagePublished => {
      const held = this.keyPackageCount(agent);
      if (!lastResort && held >= MAX_KEY_PACKAGES) return { kind: "full" };
      if (lastResort) this.stmt.dropLastResort.run(agent);
      this.stmt.publishKp.run(agent, keyPackage, lastResort ? 1 : 0);
      return { kind: "stored", held: lastResort ? held : held + 1 };
    })();
  }

  /** Single-use key packages an agent has in the directory (the last-resort one not counted). */
  keyPackageCount(agent: string): number {
    return (this.stmt.countKp.get(agent) as { n: number }).n;
  }

  /** Removes and returns one key package; the last-resort one is returned but kept. */
  takeKeyPackage(agent: string): Uint8Array | undefined {
    return this.db.transaction(() => {
      const row = this.stmt.nextKp.get(agent) as { id: number; body: Buffer; last_resort: number } | undefined;
      if (row === undefined) return undefined;
      if (row.last_resort === 0) this.stmt.deleteKp.run(row.id);
      return new Uint8Array(row.body);
    })();
  }

  /**
   * Binds `name` to `principal` and says whether it is bound to it now: the first principal to
   * claim a name keeps it, unless `authoritative` (a token the operator signed names the pair),
   * which replaces any earlier binding.
   */
  claimName(name: string, principal: string, authoritative: boolean): boolean {
    (authoritative ? this.stmt.bindName : this.stmt.claimName).run(name, principal);
    return this.nameOwner(name) === principal;
  }

  /** The principal a name is bound to, if any. */
  nameOwner(name: string): string | undefined {
    return (this.stmt.nameOwner.get(name) as { principal: string } | undefined)?.principal;
  }

  /** Drops archived frames older than `olderThanMs` and the oldest beyond `maxBytesPerChannel`. */
  prune(nowMs: number, olderThanMs: number, maxBytesPerChannel: number): number {
    return this.transaction(() => {
      this.stmt.keepSeqFloors.run();
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
    });
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

/**
 * Brings a relay database from an earlier release up to date (SQLite has no ADD COLUMN IF NOT
 * EXISTS): commit keys, then channel creators. Inboxes and key packages were keyed by agent name
 * before agents were their keys; nobody can read those rows any more, so they go.
 */
function upgrade(db: Database.Database): void {
  const columns = new Set((db.prepare("SELECT name FROM pragma_table_info('channels')").all() as { name: string }[]).map((c) => c.name));
  if (!columns.has("commit_key")) db.exec("ALTER TABLE channels ADD COLUMN commit_key BLOB");
  const inboxColumns = new Set((db.prepare("SELECT name FROM pragma_table_info('inbox')").all() as { name: string }[]).map((c) => c.name));
  // Items stored before senders were kept count for nobody's share.
  if (!inboxColumns.has("sender")) db.exec("ALTER TABLE inbox ADD COLUMN sender TEXT");
  if (columns.has("creator")) return;
  db.transaction(() => {
    db.exec("ALTER TABLE channels ADD COLUMN creator TEXT");
    db.prepare("DELETE FROM inbox WHERE length(agent) <> ?").run(PRINCIPAL_LENGTH);
    db.prepare("DELETE FROM inbox_heads WHERE length(agent) <> ?").run(PRINCIPAL_LENGTH);
    db.prepare("DELETE FROM key_packages WHERE length(agent) <> ?").run(PRINCIPAL_LENGTH);
  })();
}

/**
 * The rows of a query, from the first on, while they fit in `maxBytes` (the first always does);
 * the statement is stopped there, so that what lies beyond is never read into memory.
 */
function upTo<R>(rows: IterableIterator<R>, maxBytes: number, size: (row: R) => number): R[] {
  const taken: R[] = [];
  let bytes = 0;
  for (const row of rows) {
    bytes += size(row);
    if (taken.length > 0 && bytes > maxBytes) {
      rows.return?.();
      break;
    }
    taken.push(row);
  }
  return taken;
}
