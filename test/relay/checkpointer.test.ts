import { randomBytes } from "node:crypto";
import { statSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { RELAY_DATABASE_FILE } from "../../src/relay/sqliteArchive.js";
import { openedLog } from "./logFixture.js";
import { tempDir } from "../helpers.js";

const ch = new Uint8Array([7, 7, 7]);

/** Polls until `check` holds; the deadline only bounds a failing run, it asserts no timing. */
async function eventually(check: () => boolean, deadlineMs = 20_000): Promise<boolean> {
  const end = Date.now() + deadlineMs;
  while (!check()) {
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
  return true;
}

describe("background WAL checkpoints", () => {
  it("copy committed frames into the database file while the writer does not checkpoint", async () => {
    const dir = tempDir();
    const log = openedLog(dir, {}, ch);
    const dbFile = join(dir, RELAY_DATABASE_FILE);
    const before = statSync(dbFile).size;
    // 300 frames of 2 KiB: far below the writer's own (backstop) threshold, so only the
    // background thread can move them into the database file.
    log.atomically(() => {
      for (let i = 0; i < 300; i++) log.append(ch, "Msg", randomBytes(2020), "a");
    });
    expect(await eventually(() => statSync(dbFile).size >= before + 300 * 2020)).toBe(true);
    expect(log.read(ch, 1n, 1000)).toHaveLength(300);
    log.close();
  });

  it("a reopened log sees every frame, checkpointed or not", () => {
    const dir = tempDir();
    const log = openedLog(dir, {}, ch);
    for (let i = 0; i < 50; i++) log.append(ch, "Msg", randomBytes(500), "a");
    log.close();
    const again = openedLog(dir, {}, ch);
    expect(again.lastSeq(ch)).toBe(50n);
    expect(again.read(ch, 1n, 100)).toHaveLength(50);
    again.close();
  });
});
