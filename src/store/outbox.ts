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

  constructor(source: Database.Database | string) {
    if (typeof source !== "string") {
      this.db = source;
      this.owned = false;
      migrate(this.db);
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
  }

  /** Stores an encoded envelope; returns its id (ids only grow). */
  add(envelope: Uint8Array): number {
    return guarded("queue a message for the relay", () => {
      return Number(this.db.prepare("INSERT INTO outbox (envelope) VALUES (?)").run(envelope).lastInsertRowid);
    });
  }

  /** Forgets an answered entry. */
  remove(id: number): void {
    guarded("remove an answered message from the outbox", () => {
      this.db.prepare("DELETE FROM outbox WHERE id = ?").run(id);
    });
  }

  /** Every entry still waiting, oldest first. */
  list(): StoredOutboxEntry[] {
    return guarded("read the outbox", () => {
      const rows = this.db.prepare("SELECT id, envelope FROM outbox ORDER BY id").all() as { id: number; envelope: Buffer }[];
      return rows.map((r) => ({ id: r.id, envelope: new Uint8Array(r.envelope) }));
    });
  }

  /** Closes the connection if this outbox opened it; a caller's connection stays open. */
  close(): void {
    if (this.owned) this.db.close();
  }
}
