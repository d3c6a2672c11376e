import { randomBytes } from "node:crypto";
import { closeSync, openSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { AtRestCipher } from "./atRest.js";
import { ensurePrivateDir } from "./dataDir.js";
import { guarded, StoreError, storeFailure } from "./errors.js";
import type {
  BufferedMessage,
  GroupChange,
  InboxMessage,
  MlsStatePort,
  StoredGroup,
  StoredIdentity,
  StoredKeyPackage,
} from "./records.js";
import { SqliteOutbox } from "./outbox.js";
import { migrate } from "./schema.js";

export const DATABASE_FILE = "skytale.db";
export const KEY_FILE = "store.key";
const KEY_CHECK = "skytale-mcp at-rest key check";

export interface AgentStoreOptions {
  /** When set, the at-rest key is derived from it; otherwise a key file beside the database. */
  readonly passphrase?: string | undefined;
}

/** An inbox message as stored, with its row id. */
export interface InboxEntry extends InboxMessage {
  readonly id: number;
}

interface GroupRow {
  channel: string;
  group_id: Buffer;
  epoch: number | bigint;
  state: Buffer;
  cursor: number;
  commit_message: Buffer | null;
  welcome: Buffer | null;
  new_state: Buffer | null;
}

interface KeyPackageRow {
  ref: Buffer;
  public_package: Buffer;
  private_package: Buffer;
  not_after: number;
  last_resort: number;
}

interface InboxRow {
  id: number;
  channel: string;
  seq: number | null;
  epoch: number | bigint;
  sender: string;
  sender_fingerprint: string;
  body: Buffer;
  received_at: number;
}

/**
 * One agent's SQLite database in its data dir. Secrets are sealed with AES-256-GCM before they
 * reach SQLite; every GroupChange is one transaction; synchronous=FULL so that a state reported
 * stored survives a power cut, which the never-reuse-a-generation rule depends on.
 */
export class AgentStore implements MlsStatePort {
  private scrubWal = false;
  /** Compiled once: apply and the inbox run for every message. */
  private readonly statements = new Map<string, Database.Statement>();
  private sharedOutbox: SqliteOutbox | undefined;

  private constructor(
    private readonly db: Database.Database,
    private readonly cipher: AtRestCipher,
    readonly dir: string,
  ) {}

  /** Opens (creating if needed) the store in `dir`. */
  static open(dir: string, options: AgentStoreOptions = {}): AgentStore {
    ensurePrivateDir(dir);
    const db = openDatabase(join(dir, DATABASE_FILE));
    try {
      return new AgentStore(db, openCipher(db, dir, options.passphrase), dir);
    } catch (error) {
      db.close();
      throw storeFailure(error, `open the store in ${dir}`);
    }
  }

  close(): void {
    this.sharedOutbox?.close();
    this.db.close();
  }

  private sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (statement === undefined) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  /** Channels with their MLS group ids (the relay's channel ids) and relay cursors. */
  listGroups(): { channel: string; groupId: Uint8Array; cursor: number }[] {
    return guarded("read the channel list", () => {
      const rows = this.sql("SELECT channel, group_id, cursor FROM groups ORDER BY channel").all() as { channel: string; group_id: Buffer; cursor: number }[];
      return rows.map((r) => ({ channel: r.channel, groupId: new Uint8Array(r.group_id), cursor: r.cursor }));
    });
  }

  countUndelivered(channel: string): number {
    return guarded("count unread messages", () => {
      return (this.sql("SELECT count(*) AS n FROM inbox WHERE delivered = 0 AND channel = ?").get(channel) as { n: number }).n;
    });
  }

  setting(key: string): string | undefined {
    return guarded("read a setting", () => {
      return (this.sql("SELECT value FROM settings WHERE key = ?").get(key) as { value: string } | undefined)?.value;
    });
  }

  /** The non-empty settings whose keys start with `prefix`, as [key, value]. */
  settingsWithPrefix(prefix: string): [string, string][] {
    return guarded("read settings", () => {
      const rows = this.sql("SELECT key, value FROM settings WHERE substr(key, 1, ?) = ? AND value <> ''").all(prefix.length, prefix) as { key: string; value: string }[];
      return rows.map((r) => [r.key, r.value]);
    });
  }

  setSetting(key: string, value: string): void {
    guarded("save a setting", () => {
      this.sql("INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value").run(key, value);
    });
  }

  /** When this agent last rotated its keys in `channel` (ms since the epoch), or first counted for it. */
  rotatedAt(channel: string): number | undefined {
    return guarded("read the key rotation time", () => {
      return (this.sql("SELECT rotated_at FROM rotations WHERE channel = ?").get(channel) as { rotated_at: number } | undefined)?.rotated_at;
    });
  }

  setRotatedAt(channel: string, at: number): void {
    guarded("save the key rotation time", () => {
      this.sql("INSERT INTO rotations (channel, rotated_at) VALUES (?, ?) ON CONFLICT (channel) DO UPDATE SET rotated_at = excluded.rotated_at").run(channel, at);
    });
  }

  /** Records an invite; if it is known already, only raises its use count to `uses`. */
  saveInvite(invite: StoredInvite, uses = 0): void {
    guarded("save an invite", () => {
      this.db
        .prepare(
          `INSERT INTO invites (id, channel, secret, expires_at, max_uses, uses) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT (id) DO UPDATE SET uses = max(uses, excluded.uses)`,
        )
        .run(invite.id, invite.channel, this.cipher.seal(invite.secret, inviteContext(invite.id)), invite.expiresAt, invite.maxUses, uses);
    });
  }

  /**
   * Revokes every open invite of `channel` (after a member is removed, none may let them back in);
   * returns how many. They are kept, marked, so that their refusals can be told to joiners.
   */
  revokeInvites(channel: string): number {
    return guarded("revoke invites", () => {
      return this.sql("UPDATE invites SET revoked = 1 WHERE channel = ? AND revoked = 0").run(channel).changes;
    });
  }

  loadInvite(id: Uint8Array): (StoredInvite & { uses: number; revoked: boolean }) | undefined {
    return guarded("read an invite", () => {
      const row = this.sql("SELECT channel, secret, expires_at, max_uses, uses, revoked FROM invites WHERE id = ?").get(id) as
        | { channel: string; secret: Buffer; expires_at: number; max_uses: number; uses: number; revoked: number }
        | undefined;
      if (row === undefined) return undefined;
      const secret = new Uint8Array(this.cipher.open(row.secret, inviteContext(id)));
      return { id, channel: row.channel, secret, expiresAt: row.expires_at, maxUses: row.max_uses, uses: row.uses, revoked: row.revoked === 1 };
    });
  }

  /** Invites of `channel` that can still admit someone at `nowSeconds`. */
  activeInvites(channel: string, nowSeconds: number): (StoredInvite & { uses: number })[] {
    return guarded("read the invites", () => {
      const rows = this.sql("SELECT id FROM invites WHERE channel = ? AND expires_at >= ? AND uses < max_uses AND revoked = 0").all(channel, nowSeconds) as { id: Buffer }[];
      return rows.flatMap((r) => this.loadInvite(new Uint8Array(r.id)) ?? []);
    });
  }

  /** Counts one admission; false when the invite is used up or revoked (then nothing changes). */
  useInvite(id: Uint8Array): boolean {
    return guarded("record an invite use", () => {
      return this.sql("UPDATE invites SET uses = uses + 1 WHERE id = ? AND uses < max_uses AND revoked = 0").run(id).changes === 1;
    });
  }

  contact(name: string): StoredContact | undefined {
    return guarded("read a contact", () => {
      const row = this.sql("SELECT name, key, verified, source, added_at FROM contacts WHERE name = ?").get(name) as ContactRow | undefined;
      return row && contactOf(row);
    });
  }

  contacts(): StoredContact[] {
    return guarded("read the contacts", () => (this.sql("SELECT name, key, verified, source, added_at FROM contacts ORDER BY name").all() as ContactRow[]).map(contactOf));
  }

  /** Pins `contact.name` to its key, replacing what was pinned to that name. */
  saveContact(contact: StoredContact): void {
    guarded("save a contact", () => {
      this.sql(
        `INSERT INTO contacts (name, key, verified, source, added_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (name) DO UPDATE SET key = excluded.key, verified = excluded.verified, source = excluded.source, added_at = excluded.added_at`,
      ).run(contact.name, contact.key, contact.verified ? 1 : 0, contact.source, contact.addedAt);
    });
  }

  removeContact(name: string): boolean {
    return guarded("remove a contact", () => this.sql("DELETE FROM contacts WHERE name = ?").run(name).changes === 1);
  }

  /** Keeps a Welcome as an offer (a newer one for the same group replaces it); the oldest go past `max`. */
  saveOffer(offer: StoredOffer, max: number): void {
    guarded("save an offer", () => {
      this.db.transaction(() => {
        this.sql("INSERT OR REPLACE INTO offers (group_id, welcome, commit_seq, received_at) VALUES (?, ?, ?, ?)").run(offer.groupId, offer.welcome, offer.commitSeq, offer.receivedAt);
        this.sql("DELETE FROM offers WHERE group_id NOT IN (SELECT group_id FROM offers ORDER BY received_at DESC, rowid DESC LIMIT ?)").run(max);
      })();
    });
  }

  offers(): StoredOffer[] {
    return guarded("read the offers", () => {
      const rows = this.sql("SELECT group_id, welcome, commit_seq, received_at FROM offers ORDER BY received_at").all() as { group_id: Buffer; welcome: Buffer; commit_seq: number; received_at: number }[];
      return rows.map((r) => ({ groupId: new Uint8Array(r.group_id), welcome: new Uint8Array(r.welcome), commitSeq: r.commit_seq, receivedAt: r.received_at }));
    });
  }

  removeOffer(groupId: Uint8Array): boolean {
    return guarded("remove an offer", () => this.sql("DELETE FROM offers WHERE group_id = ?").run(groupId).changes === 1);
  }

  /** The relay transport's durable outbox, on this store's connection (it holds the lock). */
  outbox(): SqliteOutbox {
    // One per store: it numbers its rows.
    return (this.sharedOutbox ??= new SqliteOutbox(this.db));
  }

  loadIdentity(): StoredIdentity | undefined {
    return guarded("read the identity", () => {
      const row = this.sql("SELECT name, public_key, private_key FROM identity WHERE id = 1").get() as
        | { name: string; public_key: Buffer; private_key: Buffer }
        | undefined;
      if (row === undefined) return undefined;
      return {
        name: row.name,
        signaturePublicKey: new Uint8Array(row.public_key),
        signaturePrivateKey: new Uint8Array(this.cipher.open(row.private_key, "identity")),
      };
    });
  }

  saveIdentity(identity: StoredIdentity): void {
    guarded("save the identity", () => {
      this.db
        .prepare("INSERT INTO identity (id, name, public_key, private_key) VALUES (1, ?, ?, ?)")
        .run(identity.name, identity.signaturePublicKey, this.cipher.seal(identity.signaturePrivateKey, "identity"));
    });
  }

  saveKeyPackage(keyPackage: StoredKeyPackage): void {
    guarded("save a key package", () => {
      this.db
        .prepare("INSERT INTO key_packages (ref, public_package, private_package, not_after, last_resort) VALUES (?, ?, ?, ?, ?)")
        .run(keyPackage.ref, keyPackage.publicPackage, this.cipher.seal(keyPackage.privatePackage, keyPackageContext(keyPackage.ref)), keyPackage.notAfter, keyPackage.lastResort ? 1 : 0);
    });
  }

  loadKeyPackage(ref: Uint8Array): StoredKeyPackage | undefined {
    return guarded("read a key package", () => {
      const row = this.sql("SELECT ref, public_package, private_package, not_after, last_resort FROM key_packages WHERE ref = ?").get(ref) as KeyPackageRow | undefined;
      return row === undefined ? undefined : this.keyPackageOf(row);
    });
  }

  lastResortKeyPackage(): StoredKeyPackage | undefined {
    return guarded("read the last-resort key package", () => {
      const row = this.sql("SELECT ref, public_package, private_package, not_after, last_resort FROM key_packages WHERE last_resort = 1 ORDER BY not_after DESC LIMIT 1").get() as
        | KeyPackageRow
        | undefined;
      return row === undefined ? undefined : this.keyPackageOf(row);
    });
  }

  private keyPackageOf(row: KeyPackageRow): StoredKeyPackage {
    const ref = new Uint8Array(row.ref);
    return {
      ref,
      publicPackage: new Uint8Array(row.public_package),
      privatePackage: new Uint8Array(this.cipher.open(row.private_package, keyPackageContext(ref))),
      notAfter: row.not_after,
      lastResort: row.last_resort === 1,
    };
  }

  listChannels(): string[] {
    return guarded("read the channel list", () => {
      return (this.sql("SELECT channel FROM groups ORDER BY channel").all() as { channel: string }[]).map((r) => r.channel);
    });
  }

  findGroup(groupId: Uint8Array): string | undefined {
    return guarded("find a channel by its group id", () => {
      return (this.sql("SELECT channel FROM groups WHERE group_id = ?").get(groupId) as { channel: string } | undefined)?.channel;
    });
  }

  loadGroup(channel: string): StoredGroup | undefined {
    return guarded(`read the state of ${channel}`, () => {
      const row = this.db
        .prepare(
          `SELECT g.channel, g.group_id, g.epoch, g.state, g.cursor, p.commit_message, p.welcome, p.new_state
           FROM groups g LEFT JOIN pending_commits p ON p.channel = g.channel WHERE g.channel = ?`,
        )
        .get(channel) as GroupRow | undefined;
      if (row === undefined) return undefined;
      const pending =
        row.commit_message === null || row.new_state === null
          ? undefined
          : {
              commit: new Uint8Array(row.commit_message),
              welcome: row.welcome === null ? undefined : new Uint8Array(row.welcome),
              newState: new Uint8Array(this.cipher.open(row.new_state, `pending:${channel}`)),
            };
      return {
        channel,
        groupId: new Uint8Array(row.group_id),
        epoch: BigInt(row.epoch),
        state: new Uint8Array(this.cipher.open(row.state, `group:${channel}`)),
        cursor: row.cursor,
        pending,
      };
    });
  }

  countBuffered(channel: string): number {
    return guarded("count buffered messages", () => {
      return (this.sql("SELECT count(*) AS n FROM future_epoch_buffer WHERE channel = ?").get(channel) as { n: number }).n;
    });
  }

  /** Deletes key packages past their lifetime (their private halves are never needed again). */
  pruneKeyPackages(nowSeconds: number): number {
    return guarded("delete expired key packages", () => {
      return this.sql("DELETE FROM key_packages WHERE not_after < ?").run(nowSeconds).changes;
    });
  }

  loadBuffered(channel: string): BufferedMessage[] {
    return guarded("read buffered messages", () => {
      const rows = this.db
        .prepare("SELECT id, epoch, seq, message FROM future_epoch_buffer WHERE channel = ? ORDER BY id")
        .all(channel) as { id: number; epoch: number | bigint; seq: number | null; message: Buffer }[];
      return rows.map((r) => ({ id: r.id, channel, epoch: BigInt(r.epoch), seq: r.seq ?? undefined, message: new Uint8Array(r.message) }));
    });
  }

  apply(change: GroupChange): void {
    guarded(`save the state of ${change.channel}`, () => {
      if (movesCursorOnly(change)) {
        // A cursor alone only records which frames are done (our own echoes, refused frames): if a
        // power cut takes it back, those frames are processed again and change nothing. It is
        // written without a sync of its own; the next synced commit syncs it with the whole WAL.
        this.db.pragma("synchronous = NORMAL");
        try {
          this.db.transaction(() => this.applyInTransaction(change))();
        } finally {
          this.db.pragma("synchronous = FULL");
        }
        return;
      }
      this.db.transaction(() => this.applyInTransaction(change))();
      if (this.scrubWal) {
        // secure_delete zeroes freed pages in the database, not older copies in the WAL.
        this.db.pragma("wal_checkpoint(TRUNCATE)");
        this.scrubWal = false;
      }
    });
  }

  /** Undelivered inbox messages, oldest first, optionally of one channel. */
  /**
   * The oldest unread messages (of one channel, or all), in order: at most `limit` of them, and
   * no more than `maxBytes` of plaintext together, but always the first. Only those are read.
   */
  undelivered(channel: string | undefined, limit: number, maxBytes = Number.POSITIVE_INFINITY): InboxEntry[] {
    return guarded("read the inbox", () => {
      const rows = (
        channel === undefined
          ? this.sql("SELECT * FROM inbox WHERE delivered = 0 ORDER BY id LIMIT ?").iterate(limit)
          : this.sql("SELECT * FROM inbox WHERE delivered = 0 AND channel = ? ORDER BY id LIMIT ?").iterate(channel, limit)
      ) as IterableIterator<InboxRow>;
      const entries: InboxEntry[] = [];
      let bytes = 0;
      for (const r of rows) {
        const meta = {
          channel: r.channel,
          seq: r.seq ?? undefined,
          epoch: BigInt(r.epoch),
          sender: r.sender,
          senderDid: r.sender_fingerprint,
          receivedAt: r.received_at,
        };
        const plaintext = new Uint8Array(this.cipher.open(r.body, inboxContext(meta)));
        bytes += plaintext.length;
        if (entries.length > 0 && bytes > maxBytes) break;
        entries.push({ id: r.id, ...meta, plaintext });
      }
      return entries;
    });
  }

  /** Marks inbox messages as handed to the user, so they are never returned again. */
  markDelivered(ids: readonly number[]): void {
    guarded("mark messages as read", () => {
      const mark = this.sql("UPDATE inbox SET delivered = 1 WHERE id = ?");
      this.db.transaction(() => ids.forEach((id) => mark.run(id)))();
    });
  }

  private applyInTransaction(change: GroupChange): void {
    const { channel } = change;
    if (change.state === null) {
      this.sql("DELETE FROM groups WHERE channel = ?").run(channel);
      this.scrubWal = true;
    } else if (change.state !== undefined) {
      const sealed = this.cipher.seal(change.state.blob, `group:${channel}`);
      this.db
        .prepare(
          `INSERT INTO groups (channel, group_id, epoch, state) VALUES (?, ?, ?, ?)
           ON CONFLICT (channel) DO UPDATE SET group_id = excluded.group_id, epoch = excluded.epoch, state = excluded.state`,
        )
        .run(channel, change.state.groupId, change.state.epoch, sealed);
    }
    if (change.cursor !== undefined) this.sql("UPDATE groups SET cursor = ? WHERE channel = ?").run(change.cursor, channel);
    if (change.pending === null) {
      this.sql("DELETE FROM pending_commits WHERE channel = ?").run(channel);
    } else if (change.pending !== undefined) {
      const { commit, welcome, newState } = change.pending;
      this.db
        .prepare("INSERT OR REPLACE INTO pending_commits (channel, commit_message, welcome, new_state) VALUES (?, ?, ?, ?)")
        .run(channel, commit, welcome ?? null, this.cipher.seal(newState, `pending:${channel}`));
    }
    const insertInbox = this.sql(
      "INSERT INTO inbox (channel, seq, epoch, sender, sender_fingerprint, body, received_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
    );
    for (const m of change.inbox ?? []) {
      insertInbox.run(m.channel, m.seq ?? null, m.epoch, m.sender, m.senderDid, this.cipher.seal(m.plaintext, inboxContext(m)), m.receivedAt);
    }
    const insertBuffered = this.sql("INSERT INTO future_epoch_buffer (channel, epoch, seq, message) VALUES (?, ?, ?, ?)");
    for (const b of change.bufferAdd ?? []) insertBuffered.run(b.channel, b.epoch, b.seq ?? null, b.message);
    const removeBuffered = this.sql("DELETE FROM future_epoch_buffer WHERE id = ?");
    for (const id of change.bufferRemove ?? []) removeBuffered.run(id);
    if (change.consumeKeyPackage !== undefined) {
      // A last-resort package stays for the next join that needs it.
      const { changes } = this.sql("DELETE FROM key_packages WHERE ref = ? AND last_resort = 0").run(change.consumeKeyPackage);
      const kept = changes === 0 && this.sql("SELECT 1 FROM key_packages WHERE ref = ? AND last_resort = 1").get(change.consumeKeyPackage) !== undefined;
      if (changes !== 1 && !kept) throw new StoreError("conflict", "that key package was used already");
    }
  }
}

/** The database at `path`, locked for this process, in WAL mode, migrated to the current schema. */
function openDatabase(path: string): Database.Database {
  let db: Database.Database | undefined;
  try {
    // Create the file 0600 first: SQLite gives its -wal and -shm files the database's mode.
    closeSync(openSync(path, "a", 0o600));
    db = new Database(path, { timeout: 100 });
    db.pragma("journal_mode = WAL");
    // One process per data dir: two would each hold a decoded state and reuse generations.
    // The exclusive lock is taken by the first write below and held until close.
    db.pragma("locking_mode = EXCLUSIVE");
    db.exec("BEGIN EXCLUSIVE; COMMIT");
    db.pragma("synchronous = FULL");
    db.pragma("foreign_keys = ON");
    db.pragma("secure_delete = ON");
    migrate(db);
    return db;
  } catch (cause) {
    db?.close();
    throw storeFailure(cause, `open the database ${path}`);
  }
}

/** A name pinned to an identity key. */
export interface StoredContact {
  readonly name: string;
  readonly key: Uint8Array;
  /** A person checked the key (gave it, or compared its safety code); otherwise it was learned. */
  readonly verified: boolean;
  /** Where it was learned: "explicit", "invite", "channel", "key_package". */
  readonly source: string;
  readonly addedAt: number;
}

interface ContactRow {
  name: string;
  key: Buffer;
  verified: number;
  source: string;
  added_at: number;
}

function contactOf(row: ContactRow): StoredContact {
  return { name: row.name, key: new Uint8Array(row.key), verified: row.verified === 1, source: row.source, addedAt: row.added_at };
}

/** A Welcome this agent did not ask for, from an agent that is not a contact: it waits for an answer. */
export interface StoredOffer {
  readonly groupId: Uint8Array;
  readonly welcome: Uint8Array;
  readonly commitSeq: number;
  readonly receivedAt: number;
}

/** An invite this agent honours: whoever shows a MAC under `secret` may join `channel`. */
export interface StoredInvite {
  readonly id: Uint8Array;
  readonly channel: string;
  readonly secret: Uint8Array;
  /** Unix seconds. */
  readonly expiresAt: number;
  readonly maxUses: number;
}

function movesCursorOnly(change: GroupChange): boolean {
  return (
    change.cursor !== undefined && change.state === undefined && change.pending === undefined && change.consumeKeyPackage === undefined &&
    !change.inbox?.length && !change.bufferAdd?.length && !change.bufferRemove?.length
  );
}

function inviteContext(id: Uint8Array): string {
  return `invite:${Buffer.from(id).toString("hex")}`;
}

/** Everything the inbox keeps about a message is bound into its AAD, so rows cannot be re-attributed. */
function inboxContext(m: Omit<InboxMessage, "plaintext">): string {
  return `inbox:${JSON.stringify([m.channel, m.seq ?? null, m.epoch.toString(), m.sender, m.senderDid, m.receivedAt])}`;
}

function keyPackageContext(ref: Uint8Array): string {
  return `key_package:${Buffer.from(ref).toString("hex")}`;
}

/**
 * The at-rest cipher for this store, checked against a sealed marker so that a wrong passphrase
 * (or a passphrase set after the store was made with a key file) gives a clear error at once.
 */
function openCipher(db: Database.Database, dir: string, passphrase: string | undefined): AtRestCipher {
  const meta = (key: string) => (db.prepare("SELECT value FROM meta WHERE key = ?").get(key) as { value: Buffer } | undefined)?.value;
  const setMeta = db.prepare("INSERT INTO meta (key, value) VALUES (?, ?)");
  const source = meta("key_source")?.toString() ?? (passphrase ? "passphrase" : "keyfile");
  if (source === "passphrase" && !passphrase) {
    throw new StoreError("wrong_key", `the store in ${dir} is protected by a passphrase: set SKYTALE_PASSPHRASE`);
  }
  if (source === "keyfile" && passphrase) {
    throw new StoreError("wrong_key", `the store in ${dir} uses a key file, not a passphrase: unset SKYTALE_PASSPHRASE`);
  }
  let salt = meta("scrypt_salt");
  const cipher =
    source === "passphrase"
      ? AtRestCipher.fromPassphrase(passphrase as string, (salt ??= randomBytes(16)))
      : AtRestCipher.fromKeyFile(join(dir, KEY_FILE));
  const check = meta("key_check");
  if (check === undefined) {
    db.transaction(() => {
      setMeta.run("key_source", Buffer.from(source));
      if (salt !== undefined) setMeta.run("scrypt_salt", salt);
      setMeta.run("key_check", cipher.seal(Buffer.from(KEY_CHECK), "key_check"));
    })();
    return cipher;
  }
  try {
    cipher.open(check, "key_check");
  } catch (cause) {
    const hint = source === "passphrase" ? "SKYTALE_PASSPHRASE is wrong" : `the key file ${join(dir, KEY_FILE)} does not match`;
    throw new StoreError("wrong_key", `cannot open the store in ${dir}: ${hint}`, { cause });
  }
  return cipher;
}
