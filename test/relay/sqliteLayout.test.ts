import { randomBytes } from "node:crypto";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { RELAY_DATABASE_FILE, SqliteArchive } from "../../src/relay/sqliteArchive.js";
import { tempDir } from "../helpers.js";

const ch = new Uint8Array([4, 5, 6]);

describe("relay databases made before frames became a rowid table", () => {
  it("keep working: old frames read back, new ones append after them, duplicates are caught; their channels count as open", () => {
    const dir = tempDir();
    const old = new Database(join(dir, RELAY_DATABASE_FILE));
    old.pragma("journal_mode = WAL");
    old.exec(`
      CREATE TABLE channels (id BLOB PRIMARY KEY, epoch INTEGER, epoch_seq INTEGER NOT NULL DEFAULT 0, last_seq INTEGER NOT NULL DEFAULT 0);
      CREATE TABLE frames (channel BLOB NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, msg_id BLOB NOT NULL, body BLOB NOT NULL,
        sender TEXT NOT NULL, epoch_after INTEGER, stored_at INTEGER NOT NULL, PRIMARY KEY (channel, seq)) WITHOUT ROWID;
      CREATE UNIQUE INDEX frames_msg_id ON frames (channel, msg_id);
    `);
    // A channel the old relay knew: it was never opened (there were no openings), yet it goes on.
    old.prepare("INSERT INTO channels (id) VALUES (?)").run(ch);
    old.close();
    const first = randomBytes(2020);
    const log = new SqliteArchive(dir);
    expect(log.append(ch, "Msg", first, "a")).toEqual({ kind: "stored", seq: 1n, duplicate: false });
    log.close();

    const again = new SqliteArchive(dir);
    const second = randomBytes(2020);
    expect(again.append(ch, "Msg", second, "b")).toEqual({ kind: "stored", seq: 2n, duplicate: false });
    expect(again.append(ch, "Msg", first, "a")).toEqual({ kind: "stored", seq: 1n, duplicate: true });
    expect(again.read(ch, 1n, 10).map((f) => [f.seq, Buffer.from(f.body).equals(f.seq === 1n ? first : second)])).toEqual([
      [1n, true],
      [2n, true],
    ]);
    expect(again.lastSeq(ch)).toBe(2n);
    again.close();
    const check = new Database(join(dir, RELAY_DATABASE_FILE), { readonly: true });
    expect((check.prepare("SELECT sql FROM sqlite_master WHERE name = 'frames'").get() as { sql: string }).sql).toContain("WITHOUT ROWID");
    expect(check.pragma("page_size", { simple: true })).toBe(4096);
    check.close();
  });

  it("new databases use 8 KiB pages (three 2 KiB messages a page); old ones keep 4 KiB and lose the msg_id index", () => {
    const fresh = tempDir();
    new SqliteArchive(fresh).close();
    const dir = tempDir();
    const old = new Database(join(dir, RELAY_DATABASE_FILE));
    old.pragma("journal_mode = WAL");
    old.exec(`
      CREATE TABLE frames (channel BLOB NOT NULL, seq INTEGER NOT NULL, kind TEXT NOT NULL, msg_id BLOB NOT NULL, body BLOB NOT NULL,
        sender TEXT NOT NULL, epoch_after INTEGER, stored_at INTEGER NOT NULL, PRIMARY KEY (channel, seq));
      CREATE UNIQUE INDEX frames_msg_id ON frames (channel, msg_id);
    `);
    old.close();
    new SqliteArchive(dir).close();
    const pages = (d: string) => {
      const db = new Database(join(d, RELAY_DATABASE_FILE), { readonly: true });
      const result = [db.pragma("page_size", { simple: true }), db.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'frames_msg_id'").get()];
      db.close();
      return result;
    };
    expect(pages(fresh)).toEqual([8192, { n: 0 }]);
    expect(pages(dir)).toEqual([4096, { n: 0 }]);
  });
});
