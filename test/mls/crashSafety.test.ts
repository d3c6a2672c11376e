import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { MlsAgent } from "../../src/mls/mlsAgent.js";
import type { GroupChange } from "../../src/store/records.js";
import { generationOf, groupOf, restart, text, untext, type ChannelStream, type TestAgent } from "../helpers.js";

const CHANNEL = "acme/ops/crash";
const run = promisify(execFile);

async function pair(): Promise<[TestAgent, TestAgent, ChannelStream]> {
  const [[alice, bob], stream] = await groupOf(CHANNEL, "alice", "bob");
  return [alice!, bob!, stream];
}

describe("crash safety", () => {
  it("a process killed after persisting, before sending, never reuses that generation", async () => {
    const [alice, bob, stream] = await pair();
    alice.store.close();
    const child = run(process.execPath, ["--import", "tsx", join(import.meta.dirname, "../fixtures/crashAfterPersist.ts"), alice.dir, CHANNEL]);
    await expect(child).rejects.toMatchObject({ signal: "SIGKILL" });
    await restart(alice);

    const sent = new Uint8Array(readFileSync(join(alice.dir, "sent.bin")));
    const after = await alice.mls.encrypt(CHANNEL, text("first after restart"));
    expect(await generationOf(bob, CHANNEL, sent)).toBe(0);
    expect(await generationOf(bob, CHANNEL, after)).toBe(2); // generation 1 was persisted as used, then lost
    const outcomes = [...(await stream.publish(sent, [bob])), ...(await stream.publish(after, [bob]))];
    expect(outcomes.map((o) => (o.kind === "application" ? untext(o.payloads[0]!) : o.kind))).toEqual([
      "sent before the crash",
      "first after restart",
    ]);
  });

  it("a failed write returns no ciphertext, and the agent goes on from the stored state", async () => {
    const [alice, bob, stream] = await pair();
    const failing = {
      ...bindAll(alice.store),
      apply(_change: GroupChange): void {
        throw new Error("disk full");
      },
    };
    const broken = await MlsAgent.open({ name: "alice", port: failing });
    await expect(broken.encrypt(CHANNEL, text("never leaves"))).rejects.toThrow("disk full");
    await restart(alice);
    const next = await alice.mls.encrypt(CHANNEL, text("after the failed write"));
    expect(await generationOf(bob, CHANNEL, next)).toBe(0);
    const [o] = await stream.publish(next, [bob]);
    expect(o).toMatchObject({ kind: "application" });
  });
});

/** The store's methods bound to it, so they can be spread into a failing stand-in. */
function bindAll(store: TestAgent["store"]) {
  return {
    loadIdentity: store.loadIdentity.bind(store),
    saveIdentity: store.saveIdentity.bind(store),
    saveKeyPackage: store.saveKeyPackage.bind(store),
    lastResortKeyPackage: store.lastResortKeyPackage.bind(store),
    loadKeyPackage: store.loadKeyPackage.bind(store),
    findGroup: store.findGroup.bind(store),
    listChannels: store.listChannels.bind(store),
    loadGroup: store.loadGroup.bind(store),
    loadBuffered: store.loadBuffered.bind(store),
    countBuffered: store.countBuffered.bind(store),
    pruneKeyPackages: store.pruneKeyPackages.bind(store),
  };
}
