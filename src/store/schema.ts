import type Database from "better-sqlite3";
import { StoreError } from "./errors.js";

/**
 * Migrations, applied in order; PRAGMA user_version records how many ran. Append only: a
 * released migration never changes.
 */
const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE meta (key TEXT PRIMARY KEY, value BLOB NOT NULL);
  CREATE TABLE identity (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    name TEXT NOT NULL,
    public_key BLOB NOT NULL,
    private_key BLOB NOT NULL
  );
  CREATE TABLE key_packages (
    ref BLOB PRIMARY KEY,
    public_package BLOB NOT NULL,
    private_package BLOB NOT NULL,
    not_after INTEGER NOT NULL
  );
  CREATE TABLE groups (
    channel TEXT PRIMARY KEY,
    group_id BLOB NOT NULL,
    epoch INTEGER NOT NULL,
    state BLOB NOT NULL,
    cursor INTEGER NOT NULL DEFAULT -1
  );
  CREATE TABLE pending_commits (
    channel TEXT PRIMARY KEY REFERENCES groups(channel) ON DELETE CASCADE,
    commit_message BLOB NOT NULL,
    welcome BLOB,
    new_state BLOB NOT NULL
  );
  CREATE TABLE inbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL,
    seq INTEGER,
    epoch INTEGER NOT NULL,
    sender TEXT NOT NULL,
    sender_fingerprint TEXT NOT NULL,
    body BLOB NOT NULL,
    received_at INTEGER NOT NULL,
    delivered INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX inbox_undelivered ON inbox (delivered, channel, id);
  CREATE TABLE future_epoch_buffer (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    channel TEXT NOT NULL REFERENCES groups(channel) ON DELETE CASCADE,
    epoch INTEGER NOT NULL,
    seq INTEGER,
    message BLOB NOT NULL
  );
  CREATE INDEX future_epoch_buffer_channel ON future_epoch_buffer (channel, id);
  `,
  // Requests handed to the relay transport and not yet answered (src/transport/outbox.ts).
  // AUTOINCREMENT so that ids keep growing across restarts and the send order survives.
  `
  CREATE TABLE outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    envelope BLOB NOT NULL
  );
  `,
  // The channel manager: invites members honour, and small settings such as the inbox cursor.
  `
  CREATE TABLE invites (
    id BLOB PRIMARY KEY,
    channel TEXT NOT NULL,
    secret BLOB NOT NULL,
    expires_at INTEGER NOT NULL,
    max_uses INTEGER NOT NULL,
    uses INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);
  `,
  // When this agent last rotated its own keys per channel: the hourly rotation must survive the
  // restarts of a short-lived MCP server, or an agent restarted often would never rotate.
  `
  CREATE TABLE rotations (
    channel TEXT PRIMARY KEY REFERENCES groups(channel) ON DELETE CASCADE,
    rotated_at INTEGER NOT NULL
  );
  `,
  // Agents are their keys: contacts pin a name to a key (verified: a person checked it), and
  // Welcomes from agents that are not contacts wait as offers until the agent answers them.
  `
  CREATE TABLE contacts (
    name TEXT PRIMARY KEY,
    key BLOB NOT NULL,
    verified INTEGER NOT NULL,
    source TEXT NOT NULL,
    added_at INTEGER NOT NULL
  );
  CREATE TABLE offers (
    group_id BLOB PRIMARY KEY,
    welcome BLOB NOT NULL,
    commit_seq INTEGER NOT NULL,
    received_at INTEGER NOT NULL
  );
  `,
  // A revoked invite is kept (marked), not deleted: its secret authenticates the refusal members
  // send a joiner who still tries it (invite_revoked), and it admits no one.
  `
  ALTER TABLE invites ADD COLUMN revoked INTEGER NOT NULL DEFAULT 0;
  `,
  // A last-resort key package (RFC 9420 §16.8) stays after a join uses it: when others have taken
  // every single-use package from the relay's directory, members can still add this agent with it.
  `
  ALTER TABLE key_packages ADD COLUMN last_resort INTEGER NOT NULL DEFAULT 0;
  `,
];

/** The user_version of a fully migrated database. */
export const SCHEMA_VERSION = MIGRATIONS.length;

/** Brings the database to the newest schema; refuses one written by a newer version. */
export function migrate(db: Database.Database): void {
  const version = db.pragma("user_version", { simple: true }) as number;
  if (version > MIGRATIONS.length) {
    throw new StoreError("corrupt", `database schema ${version} is newer than this skytale-mcp understands (${MIGRATIONS.length})`);
  }
  for (let next = version; next < MIGRATIONS.length; next++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[next] as string);
      db.pragma(`user_version = ${next + 1}`);
    })();
  }
}
