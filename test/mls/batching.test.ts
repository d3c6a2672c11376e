import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { MlsError } from "../../src/mls/errors.js";
import { MlsAgent, type ReceiveOutcome } from "../../src/mls/mlsAgent.js";
import type { GroupChange, MlsStatePort } from "../../src/store/records.js";
import { generationOf, groupOf, restart, text, untext, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/ops/batching";
const run = promisify(execFile);

/** The agent's store, counting (and optionally failing) every write the MLS engine makes. */
function countingPort(agent: TestAgent, fail: () => boolean = () => false): MlsStatePort & { writes: GroupChange[] } {
  const store = agent.store;
  const writes: GroupChange[] = [];
  return {
    writes,
    loadIdentity: () => store.loadIdentity(),
    saveIdentity: (i) => store.saveIdentity(i),
    saveKeyPackage: (k) => store.saveKeyPackage(k),
    loadKeyPackage: (r) => store.loadKeyPackage(r),
    lastResortKeyPackage: () => store.lastResortKeyPackage(),
    listChannels: () => store.listChannels(),
    findGroup: (g) => store.findGroup(g),
    loadGroup: (c) => store.loadGroup(c),
    loadBuffered: (c) => store.loadBuffered(c),
    countBuffered: (c) => store.countBuffered(c),
    pruneKeyPackages: (n) => store.pruneKeyPackages(n),
    apply(change) {
      if (fail()) throw new Error("disk full");
      writes.push(change);
      store.apply(change);
    },
  };
}

const texts = (outcomes: ReceiveOutcome[]) => outcomes.map((o) => (o.kind === "application" ? untext(o.payloads[0]!) : o.kind));

describe("batched encrypt", () => {
  it("encrypts arriving together are stored in one write, in call order, with distinct generations", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const port = countingPort(alice!);
    const sender = await MlsAgent.open({ name: "alice", port });
    const sent = await Promise.all(Array.from({ length: 20 }, (_, i) => sender.encrypt(CHANNEL, text(`m${i}`))));
    expect(port.writes).toHaveLength(1);
    expect(await Promise.all(sent.map((c) => generationOf(bob!, CHANNEL, c)))).toEqual(Array.from({ length: 20 }, (_, i) => i));
    const results = await bob!.mls.receiveAll(CHANNEL, sent.map((bytes, seq) => ({ bytes, seq: seq + 1 })));
    expect(results.flatMap((r) => texts(r))).toEqual(Array.from({ length: 20 }, (_, i) => `m${i}`));
  });

  it("a failed batch write returns no ciphertext to anyone, and the next batch reuses nothing", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    let failing = true;
    const sender = await MlsAgent.open({ name: "alice", port: countingPort(alice!, () => failing) });
    const lost = await Promise.allSettled([0, 1, 2].map((i) => sender.encrypt(CHANNEL, text(`lost ${i}`))));
    expect(lost.every((r) => r.status === "rejected")).toBe(true);
    failing = false;
    const next = await sender.encrypt(CHANNEL, text("after the failed write"));
    // Nothing of the failed batch left the process, so its generations were never used outside.
    expect(await generationOf(bob!, CHANNEL, next)).toBe(0);
  });

  it("a process killed after storing a batch, having sent only part of it, never reuses a generation of it", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    alice!.store.close();
    const child = run(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../fixtures/crashAfterBatch.ts"), alice!.dir, CHANNEL]);
    await expect(child).rejects.toMatchObject({ signal: "SIGKILL" });
    await restart(alice!);
    const sent = new Uint8Array(readFileSync(join(alice!.dir, "sent.bin")));
    const after = await alice!.mls.encrypt(CHANNEL, text("first after restart"));
    expect(await generationOf(bob!, CHANNEL, sent)).toBe(0);
    expect(await generationOf(bob!, CHANNEL, after)).toBe(5); // 1-4 were stored as used, never sent
    const results = await bob!.mls.receiveAll(CHANNEL, [{ bytes: sent, seq: 1 }, { bytes: after, seq: 2 }]);
    expect(results.flatMap((r) => texts(r))).toEqual(["batched 0", "first after restart"]);
  });
});

describe("batched receive", () => {
  it("a batch of frames is one write: state, every inbox row and the cursor; redelivery adds nothing", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const sent = [];
    for (let i = 0; i < 10; i++) sent.push(await alice!.mls.encrypt(CHANNEL, text(`m${i}`)));
    const port = countingPort(bob!);
    const receiver = await MlsAgent.open({ name: "bob", port });
    const frames = sent.map((bytes, i) => ({ bytes, seq: i + 1 }));
    const results = await receiver.receiveAll(CHANNEL, [...frames, frames[3]!]);
    expect(port.writes).toHaveLength(1);
    expect(port.writes[0]).toMatchObject({ cursor: 10 });
    expect(port.writes[0]!.inbox).toHaveLength(10);
    expect(results.flatMap((r) => texts(r))).toEqual([...Array.from({ length: 10 }, (_, i) => `m${i}`), "duplicate"]);

    // After a restart the relay resends from an older cursor: everything is a duplicate.
    await restart(bob!);
    const again = await bob!.mls.receiveAll(CHANNEL, frames);
    expect(again.flatMap((r) => texts(r))).toEqual(Array(10).fill("duplicate"));
    expect(bob!.store.undelivered(CHANNEL, 100).map((m) => untext(m.plaintext.subarray(0)))).toEqual(Array.from({ length: 10 }, (_, i) => `m${i}`));
  });

  it("a batch whose write fails leaves nothing visible and nothing lost: the frames are processed on redelivery", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const frames = [];
    for (let i = 0; i < 5; i++) frames.push({ bytes: await alice!.mls.encrypt(CHANNEL, text(`m${i}`)), seq: i + 1 });
    let failing = true;
    const receiver = await MlsAgent.open({ name: "bob", port: countingPort(bob!, () => failing) });
    await expect(receiver.receiveAll(CHANNEL, frames)).rejects.toThrow("disk full");
    expect(bob!.store.undelivered(CHANNEL, 100)).toEqual([]);
    expect(bob!.store.loadGroup(CHANNEL)!.cursor).toBe(0);
    failing = false;
    // The engine dropped its cached state, which was ahead of the store: it goes on from the store.
    const results = await receiver.receiveAll(CHANNEL, frames);
    expect(results.flatMap((r) => texts(r))).toEqual(["m0", "m1", "m2", "m3", "m4"]);
    expect(bob!.store.undelivered(CHANNEL, 100)).toHaveLength(5);
  });

  it("a refused frame ends the batch: the frames before it are stored, it and the rest are left to the caller", async () => {
    const [[alice, bob]] = await groupOf(CHANNEL, "alice", "bob");
    const good = [await alice!.mls.encrypt(CHANNEL, text("first")), await alice!.mls.encrypt(CHANNEL, text("second"))];
    const tampered = good[1]!.slice();
    tampered[tampered.length - 1]! ^= 1;
    const results = await bob!.mls.receiveAll(CHANNEL, [
      { bytes: good[0]!, seq: 1 },
      { bytes: tampered, seq: 2 },
      { bytes: good[1]!, seq: 3 },
    ]);
    expect(results.flatMap(texts)).toEqual(["first"]);
    expect(bob!.store.loadGroup(CHANNEL)!.cursor).toBe(1);
    // Nothing of the refused frame was consumed: the genuine one still decrypts.
    await expect(bob!.mls.receive(CHANNEL, tampered, 2)).rejects.toBeInstanceOf(MlsError);
    expect(texts(await bob!.mls.receive(CHANNEL, good[1]!, 3))).toEqual(["second"]);
  });

  it("our own messages echoed back are recognised and only move the cursor", async () => {
    const [[alice]] = await groupOf(CHANNEL, "alice", "bob");
    const sent = await Promise.all([0, 1, 2].map((i) => alice!.mls.encrypt(CHANNEL, text(`m${i}`))));
    const results = await alice!.mls.receiveAll(CHANNEL, sent.map((bytes, i) => ({ bytes, seq: i + 1 })));
    expect(results.flatMap((r) => texts(r))).toEqual(["own", "own", "own"]);
    expect(alice!.store.loadGroup(CHANNEL)!.cursor).toBe(3);
    // The same echo again (a relay replaying it) takes the decrypting path and is still ours.
    expect(texts(await alice!.mls.receive(CHANNEL, sent[0]!, 4))).toEqual(["own"]);
  });
});
