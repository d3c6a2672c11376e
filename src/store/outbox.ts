import { closeSync, openSync } from "node:fs";
import Database from "better-sqlite3";
import { guarded, storeFailure } from "./errors.js";
import { migrate } from "./schema.js";

/** One unanswered relay request, as the transport's Outbox interface lists it. */
export interface StoredOutboxEntry {
  readonly id: number;
  readonly envelope: Uint8Array;
}

/**
 * The transport's outbox in SQLite: requests survive a crash or restart until the relay answers
 * them. It satisfies the Outbox interface of src/transport by shape (the store does not import
 * layers above it). Give it the connection that already has the database open (AgentStore keeps
 * an exclusive lock on its file), or a path of its own.
 */
export class SqliteOutbox {
  private readonly db: Database.Database;
  private readonly owned: boolean;
  private insertStatement: Database.Statement | undefined;
  private deleteStatement: Database.Statement | undefined;
  /** Added and not written yet, by id; and written ids answered since. */
  private readonly unwritten = new Map<number, Uint8Array>();
  private readonly unremoved: number[] = [];
  private flushPending = false;
  private nextId = 1;

  constructor(source: Database.Database | string) {
    if (typeof source !== "string") {
      this.db = source;
      this.owned = false;
      migrate(this.db);
      this.nextId = lastId(this.db) + 1;
      return;
    }
    try {
      // Create the file 0600 first: SQLite gives its -wal and -shm files the database's mode.
      closeSync(openSync(source, "a", 0o600));
      // A short busy timeout: a database another connection holds exclusively (an open AgentStore) fails fast.
      this.db = new Database(source, { timeout: 100 });
      this.db.pragma("journal_mode = WAL");
      // An entry reported stored must survive a power cut: that is the outbox's whole promise.
      this.db.pragma("synchronous = FULL");
      migrate(this.db);
    } catch (cause) {
      throw storeFailure(cause, `open the outbox database ${source}`);
    }
    this.owned = true;
    this.nextId = lastId(this.db) + 1;
  }

  /**
   * Takes an encoded envelope and returns its id (ids only grow). Rows are written behind: every
   * add and remove of one turn of the event loop goes to SQLite in one synced transaction at the
   * end of that turn (or at list/close), and an entry answered before that is never written at
   * all. That is safe because the outbox is needed only until the relay answers: a send is
   * acknowledged by the relay's answer, not by this row, and a caller is told "queued" only after
   * a timeout of many turns. The ciphertext's MLS state was stored synced before it got here, so
   * a row lost in a crash can only lose an unacknowledged message, never reuse its generation.
   */
  add(envelope: Uint8Array): number {
    const id = this.nextId++;
    this.unwritten.set(id, envelope);
    this.flushSoon();
    return id;
  }

  /** Forgets an answered entry. */
  remove(id: number): void {
    if (this.unwritten.delete(id)) return;
    this.unremoved.push(id);
    this.flushSoon();
  }

  /** Writes what add and remove left for the end of the turn. */
  flush(): void {
    if (this.unwritten.size === 0 && this.unremoved.length === 0) return;
    const rows = [...this.unwritten];
    const gone = [...this.unremoved];
    guarded("queue messages for the relay", () => {
      const insert = (this.insertStatement ??= this.db.prepare("INSERT INTO outbox (id, envelope) VALUES (?, ?)"));
      const remove = (this.deleteStatement ??= this.db.prepare("DELETE FROM outbox WHERE id = ?"));
      this.db.transaction(() => {
        for (const [id, envelope] of rows) insert.run(id, envelope);
        for (const id of gone) remove.run(id);
      })();
    });
    rows.forEach(([id]) => this.unwritten.delete(id));
    this.unremoved.splice(0, gone.length);
  }

  private flushSoon(): void {
    if (this.flushPending) return;
    this.flushPending = true;
    setImmediate(() => {
      this.flushPending = false;
      if (!this.db.open) return;
      try {
        this.flush();
      } catch {
        // Kept in memory (the transport still has them too); the next add, remove or list retries.
      }
    });
  }

  /** Every entry still waiting, oldest first. */
  list(): StoredOutboxEntry[] {
    this.flush();
    return guarded("read the outbox", () => {
      const rows = this.db.prepare("SELECT id, envelope FROM outbox ORDER BY id").all() as { id: number; envelope: Buffer }[];
      return rows.map((r) => ({ id: r.id, envelope: new Uint8Array(r.envelope) }));
    });
  }

  /** Closes the connection if this outbox opened it; a caller's connection stays open. */
  close(): void {
    if (this.db.open) this.flush();
    if (this.owned) this.db.close();
  }
}

/** The highest id the table ever gave out (AUTOINCREMENT keeps it in sqlite_sequence). */
function lastId(db: Database.Database): number {
  const row = db.prepare("SELECT max(coalesce((SELECT seq FROM sqlite_sequence WHERE name = 'outbox'), 0), coalesce((SELECT max(id) FROM outbox), 0)) AS id").get() as { id: number };
  return row.id;
}
