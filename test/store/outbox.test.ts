import { statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { AgentStore, DATABASE_FILE } from "../../src/store/agentStore.js";
import { SqliteOutbox } from "../../src/store/outbox.js";
import { SCHEMA_VERSION } from "../../src/store/schema.js";
import type { Outbox } from "../../src/transport/outbox.js";
import { tempDir } from "../helpers.js";

const bytes = (...values: number[]) => new Uint8Array(values);

describe("SqliteOutbox", () => {
  it("keeps entries in order and survives a reopen", () => {
    const path = join(tempDir(), "outbox.db");
    const first: Outbox & { close(): void } = new SqliteOutbox(path);
    const a = first.add(bytes(1));
    const b = first.add(bytes(2, 2));
    const c = first.add(bytes(3, 3, 3));
    expect(a < b && b < c).toBe(true);
    first.remove(b);
    first.remove(999);
    first.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);

    const second = new SqliteOutbox(path);
    expect(second.list()).toEqual([
      { id: a, envelope: bytes(1) },
      { id: c, envelope: bytes(3, 3, 3) },
    ]);
    second.remove(a);
    second.remove(c);
    // Ids never go back, even once the table is empty: order must hold across restarts.
    expect(second.add(bytes(4))).toBeGreaterThan(c);
    second.close();
  });

  it("shares the agent's database: the outbox table is one more migration", () => {
    const dir = tempDir();
    AgentStore.open(dir).close();
    const db = new Database(join(dir, DATABASE_FILE));
    const outbox = new SqliteOutbox(db);
    outbox.add(bytes(7));
    outbox.close();
    expect(db.open).toBe(true);
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.close();
    const store = AgentStore.open(dir);
    store.close();
    const again = new SqliteOutbox(join(dir, DATABASE_FILE));
    expect(again.list().map((e) => e.envelope)).toEqual([bytes(7)]);
    again.close();
  });

  it("cannot open the agent's database file behind an open AgentStore's lock, but a file of its own is fine", () => {
    const dir = tempDir();
    const store = AgentStore.open(dir);
    expect(() => new SqliteOutbox(join(dir, DATABASE_FILE))).toThrow(expect.objectContaining({ code: "locked" }));
    const own = new SqliteOutbox(join(dir, "outbox.db"));
    own.add(bytes(1));
    expect(own.list()).toHaveLength(1);
    own.close();
    store.close();
  });

  it("a path it cannot open is a StoreError", () => {
    expect(() => new SqliteOutbox(join(tempDir(), "missing", "outbox.db"))).toThrow(expect.objectContaining({ code: "io" }));
  });
});

describe("AgentStore.outbox", () => {
  it("shares the store's locked connection and survives a reopen", async () => {
    const dir = tempDir();
    const store = AgentStore.open(dir);
    const id = store.outbox().add(new Uint8Array([1, 2, 3]));
    store.close();
    const again = AgentStore.open(dir);
    expect(again.outbox().list()).toEqual([{ id, envelope: new Uint8Array([1, 2, 3]) }]);
    again.close();
  });
});
