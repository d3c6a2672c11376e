import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import { describe, expect, it } from "vitest";
import { MlsAgent } from "../../src/mls/mlsAgent.js";
import { AgentStore, DATABASE_FILE, KEY_FILE } from "../../src/store/agentStore.js";
import { resolveDataDir } from "../../src/store/dataDir.js";
import { SCHEMA_VERSION } from "../../src/store/schema.js";
import { ChannelStream, openAgent, stateOf, tempDir, text } from "../helpers.js";

const CHANNEL = "acme/store/test";
const mode = (path: string) => statSync(path).mode & 0o777;

describe("the agent store", () => {
  it("resolves the data dir from SKYTALE_DATA_DIR or ~/.skytale/<identity>", () => {
    expect(resolveDataDir("alice", { SKYTALE_DATA_DIR: "/tmp/x" })).toBe("/tmp/x");
    expect(resolveDataDir("alice", { HOME: "/home/a" })).toMatch(/\.skytale\/alice$/);
  });

  it("creates a private dir and private files", async () => {
    const dir = join(tempDir(), "nested", "agent");
    const store = AgentStore.open(dir);
    await MlsAgent.open({ name: "alice", port: store });
    expect(mode(dir)).toBe(0o700);
    for (const file of readdirSync(dir)) expect([file, mode(join(dir, file))]).toEqual([file, 0o600]);
    expect(readdirSync(dir)).toEqual(expect.arrayContaining([DATABASE_FILE, KEY_FILE]));
    store.close();
  });

  it("keeps no plaintext, private key or state secret in the database files", async () => {
    const alice = await openAgent("alice");
    const bob = await openAgent("bob");
    const stream = new ChannelStream(CHANNEL);
    await alice.mls.createChannel(CHANNEL);
    const add = await alice.mls.addMembers(CHANNEL, [await bob.mls.createKeyPackage()]);
    await stream.publish(add.commit, [alice]);
    await bob.mls.join(add.welcome!, 0);
    const secret = "the launch code is 0000-TOP-SECRET";
    await stream.publish(await alice.mls.encrypt(CHANNEL, text(secret)), [bob]);
    expect(bob.store.undelivered(CHANNEL, 10)).toHaveLength(1);

    const raw = Buffer.concat(readdirSync(bob.dir).filter((f) => f.startsWith(DATABASE_FILE)).map((f) => readFileSync(join(bob.dir, f))));
    expect(raw.includes(Buffer.from(secret))).toBe(false);
    expect(raw.includes(Buffer.from(bob.mls.identity.signaturePrivateKey))).toBe(false);
    const { keySchedule } = stateOf(bob, CHANNEL);
    for (const secret of [keySchedule.initSecret, keySchedule.exporterSecret, keySchedule.senderDataSecret]) {
      expect(raw.includes(Buffer.from(secret))).toBe(false);
    }
    expect(raw.includes(Buffer.from(CHANNEL))).toBe(true); // channel names are not secret on disk
  });

  it("opens with a passphrase, and refuses a wrong one or a missing one", async () => {
    const dir = tempDir();
    const first = AgentStore.open(dir, { passphrase: "correct horse" });
    const agent = await MlsAgent.open({ name: "alice", port: first });
    const key = agent.identity.signaturePrivateKey;
    first.close();
    expect(readdirSync(dir)).not.toContain(KEY_FILE);
    const again = AgentStore.open(dir, { passphrase: "correct horse" });
    expect(again.loadIdentity()?.signaturePrivateKey).toEqual(key);
    again.close();
    expect(() => AgentStore.open(dir, { passphrase: "wrong" })).toThrow(expect.objectContaining({ code: "wrong_key" }));
    expect(() => AgentStore.open(dir)).toThrow(/SKYTALE_PASSPHRASE/);
  });

  it("refuses a replaced key file, and a passphrase for a key-file store", () => {
    const dir = tempDir();
    AgentStore.open(dir).close();
    expect(() => AgentStore.open(dir, { passphrase: "late" })).toThrow(expect.objectContaining({ code: "wrong_key" }));
    writeFileSync(join(dir, KEY_FILE), Buffer.alloc(32, 7));
    expect(() => AgentStore.open(dir)).toThrow(expect.objectContaining({ code: "wrong_key" }));
  });

  it("rejects a sealed value moved to another row", async () => {
    const alice = await openAgent("alice");
    await alice.mls.createChannel("acme/a/one");
    await alice.mls.createChannel("acme/a/two");
    alice.store.close();
    const db = new Database(join(alice.dir, DATABASE_FILE));
    db.prepare("UPDATE groups SET state = (SELECT state FROM groups WHERE channel = 'acme/a/one') WHERE channel = 'acme/a/two'").run();
    db.close();
    const store = AgentStore.open(alice.dir);
    expect(() => store.loadGroup("acme/a/two")).toThrow(expect.objectContaining({ code: "corrupt" }));
    store.close();
  });

  it("one process per data dir: a second opener is refused until the first closes", () => {
    const dir = tempDir();
    const first = AgentStore.open(dir);
    expect(() => AgentStore.open(dir)).toThrow(expect.objectContaining({ code: "locked" }));
    first.close();
    AgentStore.open(dir).close();
  });

  it("expired key packages are deleted when the agent opens", async () => {
    let now = Date.UTC(2026, 10, 1);
    const dir = tempDir();
    const store = AgentStore.open(dir);
    const agent = await MlsAgent.open({ name: "alice", port: store, clock: () => now });
    await agent.createKeyPackage();
    store.close();
    now += 31 * 24 * 3600 * 1000;
    const reopened = AgentStore.open(dir);
    await MlsAgent.open({ name: "alice", port: reopened, clock: () => now });
    reopened.close();
    const db = new Database(join(dir, DATABASE_FILE));
    expect(db.prepare("SELECT count(*) AS n FROM key_packages").get()).toEqual({ n: 0 });
    db.close();
  });

  it("migrates once, and refuses a schema from a newer version", () => {
    const dir = tempDir();
    AgentStore.open(dir).close();
    AgentStore.open(dir).close();
    const db = new Database(join(dir, DATABASE_FILE));
    expect(db.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    db.pragma("user_version = 99");
    db.close();
    expect(() => AgentStore.open(dir)).toThrow(expect.objectContaining({ code: "corrupt" }));
  });

  it("a database from before key rotation times were kept gains their table when opened", () => {
    const dir = tempDir();
    AgentStore.open(dir).close();
    const db = new Database(join(dir, DATABASE_FILE));
    db.exec("DROP TABLE rotations; DROP TABLE contacts; DROP TABLE offers; ALTER TABLE invites DROP COLUMN revoked; ALTER TABLE key_packages DROP COLUMN last_resort");
    db.pragma(`user_version = ${SCHEMA_VERSION - 4}`);
    db.close();
    const store = AgentStore.open(dir);
    expect(store.rotatedAt("acme/agents/none")).toBeUndefined();
    expect(store.contacts()).toEqual([]);
    store.close();
    const after = new Database(join(dir, DATABASE_FILE));
    expect(after.pragma("user_version", { simple: true })).toBe(SCHEMA_VERSION);
    after.close();
  });

  it("a revoked invite is kept, marked, and admits no one", () => {
    const store = AgentStore.open(tempDir());
    const invite = { id: new Uint8Array(16).fill(1), channel: CHANNEL, secret: new Uint8Array(32).fill(2), expiresAt: 2_000_000_000, maxUses: 5 };
    store.saveInvite(invite);
    store.saveInvite({ ...invite, id: new Uint8Array(16).fill(3), channel: "acme/store/other" });
    expect(store.revokeInvites(CHANNEL)).toBe(1);
    expect(store.revokeInvites(CHANNEL)).toBe(0);
    expect(store.loadInvite(invite.id)).toMatchObject({ secret: invite.secret, uses: 0, revoked: true });
    expect(store.activeInvites(CHANNEL, 0)).toEqual([]);
    expect(store.useInvite(invite.id)).toBe(false);
    expect(store.activeInvites("acme/store/other", 0)).toHaveLength(1);
    store.close();
  });

  it("a database file that is not SQLite gives a clear error", () => {
    const dir = tempDir();
    writeFileSync(join(dir, DATABASE_FILE), "this is not a database, just garbage bytes ".repeat(100));
    expect(() => AgentStore.open(dir)).toThrow(expect.objectContaining({ code: "corrupt" }));
  });

  it("one GroupChange is all or nothing", async () => {
    const alice = await openAgent("alice");
    await alice.mls.createChannel(CHANNEL);
    const before = alice.store.loadGroup(CHANNEL)!;
    expect(() =>
      alice.store.apply({
        channel: CHANNEL,
        state: { groupId: before.groupId, epoch: 7n, blob: new Uint8Array([1, 2, 3]) },
        cursor: 42,
        bufferAdd: [{ channel: "no/such/channel", epoch: 1n, seq: 1, message: new Uint8Array(1) }], // violates the foreign key
      }),
    ).toThrow();
    const after = alice.store.loadGroup(CHANNEL)!;
    expect(after.epoch).toBe(before.epoch);
    expect(after.cursor).toBe(before.cursor);
    expect(after.state).toEqual(before.state);
  });
});
