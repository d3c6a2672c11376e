import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { SqliteOutbox } from "../../src/store/outbox.js";
import { tempDir } from "../helpers.js";

const endOfTurn = () => new Promise((resolve) => setImmediate(resolve));
const bytes = (...values: number[]) => new Uint8Array(values);

describe("SqliteOutbox writes behind, once per turn of the event loop", () => {
  it("rows reach the table at the end of the turn they were added in; answered ones leave it the same way", async () => {
    const path = join(tempDir(), "outbox.db");
    const outbox = new SqliteOutbox(path);
    const reader = new Database(path, { readonly: true });
    const rows = () => (reader.prepare("SELECT id FROM outbox ORDER BY id").all() as { id: number }[]).map((r) => r.id);
    const a = outbox.add(bytes(1));
    const b = outbox.add(bytes(2));
    expect(rows()).toEqual([]);
    await endOfTurn();
    expect(rows()).toEqual([a, b]);
    outbox.remove(a);
    await endOfTurn();
    expect(rows()).toEqual([b]);
    // Answered within its own turn: it never reaches the table at all.
    const c = outbox.add(bytes(3));
    outbox.remove(c);
    await endOfTurn();
    expect(rows()).toEqual([b]);
    reader.close();
    outbox.close();
  });

  it("list and close write what is pending, so a reopen finds every unanswered entry in order", () => {
    const path = join(tempDir(), "outbox.db");
    const first = new SqliteOutbox(path);
    const ids = [first.add(bytes(1)), first.add(bytes(2)), first.add(bytes(3))];
    expect(first.list().map((e) => e.id)).toEqual(ids);
    first.remove(ids[1]!);
    const d = first.add(bytes(4));
    first.close();
    const second = new SqliteOutbox(path);
    expect(second.list()).toEqual([
      { id: ids[0], envelope: bytes(1) },
      { id: ids[2], envelope: bytes(3) },
      { id: d, envelope: bytes(4) },
    ]);
    expect(second.add(bytes(5))).toBeGreaterThan(d);
    second.close();
  });
});
