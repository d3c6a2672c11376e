// A full disk, a read-only data dir and a damaged database file: each gives a StoreError with a
// code the caller can act on, changes nothing, and the store works again once the disk does.
import { openSync, readSync, closeSync, writeSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { afterEach, describe, expect, it } from "vitest";
import { MlsAgent } from "../../src/mls/mlsAgent.js";
import { AgentStore, DATABASE_FILE } from "../../src/store/agentStore.js";
import { StoreError } from "../../src/store/errors.js";
import { mountTmpfs, tmpfsAvailable, type Tmpfs } from "../fixtures/tmpfs.js";
import { groupFrom, openAgent, restart, stateOf, tempDir, text, untext, type ChannelStream, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/agents/faults";
const mounts: Tmpfs[] = [];
afterEach(() => mounts.splice(0).forEach((m) => m.unmount()));

function tmpfs(sizeKiB: number): Tmpfs {
  const m = mountTmpfs(sizeKiB);
  mounts.push(m);
  return m;
}

/** alice (in a normal temp dir) and bob (in `bobDir`) in one channel. */
async function pair(bobDir: string): Promise<[TestAgent, TestAgent, ChannelStream]> {
  const [[alice, bob], stream] = await groupFrom(CHANNEL, [await openAgent("alice"), await openAgent("bob", bobDir)]);
  return [alice!, bob!, stream];
}

function storeErrorOf(step: () => unknown): StoreError | undefined {
  try {
    step();
  } catch (error) {
    return error as StoreError;
  }
  return undefined;
}

async function failureOf(step: () => Promise<unknown>): Promise<unknown> {
  try {
    await step();
  } catch (error) {
    return error;
  }
  return undefined;
}

describe.skipIf(!tmpfsAvailable)("a full disk", () => {
  it("a receive that cannot be stored changes nothing, and succeeds once space is free", async () => {
    const disk = tmpfs(1024);
    const [alice, bob, stream] = await pair(join(disk.dir, "bob"));
    disk.fill();
    // The WAL may still have room for a few transactions; keep going until the disk refuses one.
    const stored: string[] = [];
    let refused: { bytes: Uint8Array; seq: number; text: string; error: unknown } | undefined;
    for (let i = 0; i < 2000 && refused === undefined; i++) {
      const message = `message ${i} `.padEnd(900, "x");
      const bytes = await alice.mls.encrypt(CHANNEL, text(message));
      const seq = stream.next();
      const error = await failureOf(() => bob.mls.receive(CHANNEL, bytes, seq));
      if (error === undefined) stored.push(message);
      else refused = { bytes, seq, text: message, error };
    }
    expect(refused, "the disk never filled up").toBeDefined();
    expect(refused!.error).toBeInstanceOf(StoreError);
    expect(refused!.error).toMatchObject({ code: "full", message: expect.stringContaining("free some space") });
    expect((refused!.error as Error).message).not.toContain(refused!.text.slice(0, 12));

    const before = stateOf(bob, CHANNEL);
    // Still full: the same frame fails the same way, and nothing moved.
    await expect(bob.mls.receive(CHANNEL, refused!.bytes, refused!.seq)).rejects.toMatchObject({ code: "full" });
    expect(stateOf(bob, CHANNEL).groupContext.epoch).toBe(before.groupContext.epoch);

    disk.free();
    const outcomes = await bob.mls.receive(CHANNEL, refused!.bytes, refused!.seq);
    expect(outcomes.map((o) => o.kind)).toEqual(["application"]);
    await restart(bob);
    const inbox = bob.store.undelivered(CHANNEL, 5000).map((m) => untext(m.plaintext));
    expect(inbox).toEqual([...stored, refused!.text]);
  });

  it("an encrypt that cannot be stored returns no ciphertext; the next one is read by everyone", async () => {
    const disk = tmpfs(1024);
    const [alice, bob] = await pair(join(disk.dir, "bob"));
    disk.fill();
    let refused: unknown;
    const sent: Uint8Array[] = [];
    for (let i = 0; i < 2000 && refused === undefined; i++) {
      refused = await failureOf(async () => sent.push(await bob.mls.encrypt(CHANNEL, text(`from bob ${i}`.padEnd(900, "y")))));
    }
    expect(refused).toMatchObject({ code: "full" });
    disk.free();
    sent.push(await bob.mls.encrypt(CHANNEL, text("after the disk was freed")));
    const read: string[] = [];
    for (const [seq, bytes] of sent.entries()) {
      for (const o of await alice.mls.receive(CHANNEL, bytes, seq + 1)) if (o.kind === "application") read.push(untext(o.payloads[0]!));
    }
    expect(read).toHaveLength(sent.length);
    expect(read.at(-1)).toBe("after the disk was freed");
  });
});

describe.skipIf(!tmpfsAvailable)("a read-only data dir", () => {
  it("opening is refused with read_only, and works again with the data intact once writable", async () => {
    const disk = tmpfs(4096);
    const dir = join(disk.dir, "bob");
    const bob = await openAgent("bob", dir);
    await bob.mls.createChannel(CHANNEL);
    bob.store.close();
    disk.readOnly(true);
    expect(storeErrorOf(() => AgentStore.open(dir))).toMatchObject({ code: "read_only", message: expect.stringContaining("make it writable") });
    expect(storeErrorOf(() => AgentStore.open(join(disk.dir, "new-agent")))).toMatchObject({ code: "read_only" });
    disk.readOnly(false);
    const store = AgentStore.open(dir);
    const again = await MlsAgent.open({ name: "bob", port: store });
    expect((await again.channelInfo(CHANNEL)).epoch).toBe(0n);
    store.close();
  });
});

describe("a damaged database file", () => {
  it("a damaged page of the groups table gives corrupt, not a crash, when the channel is read", async () => {
    const agent = await openAgent("carol");
    await agent.mls.createChannel(CHANNEL);
    agent.store.close();
    const path = join(agent.dir, DATABASE_FILE);
    const db = new Database(path);
    const pageSize = db.pragma("page_size", { simple: true }) as number;
    const root = (db.prepare("SELECT rootpage FROM sqlite_master WHERE name = 'groups'").get() as { rootpage: number }).rootpage;
    db.pragma("wal_checkpoint(TRUNCATE)");
    db.close();
    const fd = openSync(path, "r+");
    const page = Buffer.alloc(pageSize);
    readSync(fd, page, 0, pageSize, (root - 1) * pageSize);
    page.fill(0xa5, 0, 64); // the b-tree page header and cell pointers
    writeSync(fd, page, 0, pageSize, (root - 1) * pageSize);
    closeSync(fd);

    const failure = await failureOf(async () => {
      const store = AgentStore.open(agent.dir);
      try {
        store.listGroups();
      } finally {
        store.close();
      }
    });
    expect(failure).toBeInstanceOf(StoreError);
    expect(failure).toMatchObject({ code: "corrupt", message: expect.stringContaining("backup") });
  });

  it("a data dir that cannot be created is an io error naming the path", () => {
    const parent = tempDir();
    const file = join(parent, "a-file");
    closeSync(openSync(file, "w"));
    expect(storeErrorOf(() => AgentStore.open(join(file, "agent")))).toMatchObject({ code: "io", message: expect.stringContaining(file) });
    mkdirSync(join(parent, "ok"));
  });
});
