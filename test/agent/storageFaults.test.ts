// The channel manager on a data dir whose disk fills up: sends fail with storage_full and change
// nothing, the relay stream waits instead of skipping, and once space is free every message
// arrives exactly once, in order.
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { Agent } from "../../src/agent/agent.js";
import { AgentError } from "../../src/agent/types.js";
import { Relay } from "../../src/relay/relayServer.js";
import { mountTmpfs, tmpfsAvailable, type Tmpfs } from "../fixtures/tmpfs.js";
import { tempDir } from "../helpers.js";
import { afterThisTest, agentConfig, openAgent, startRelay } from "./fixture.js";

const CHANNEL = "acme/agents/full-disk";
function open(relay: Relay, name: string, dataDir: string, log: (line: string) => void = () => {}): Promise<Agent> {
  return openAgent(agentConfig(relay, name, { dataDir, log }));
}

describe.skipIf(!tmpfsAvailable)("an agent whose disk is full", () => {
  it("refuses sends with storage_full, holds the stream, and loses nothing once space is free", async () => {
    const disk: Tmpfs = mountTmpfs(1024);
    afterThisTest(() => disk.unmount());
    const relay = await startRelay();
    const alice = await open(relay, "alice", tempDir("skytale-alice-"));
    const bobLog: string[] = [];
    const bob = await open(relay, "bob", join(disk.dir, "bob"), (line) => bobLog.push(line));
    await alice.createChannel(CHANNEL);
    const { invite } = await alice.invite(CHANNEL, { maxUses: 1, ttlSeconds: 600 });
    await bob.joinWithInvite(invite);

    disk.fill();
    let refused: unknown;
    for (let i = 0; i < 2000 && refused === undefined; i++) {
      await bob.send(CHANNEL, `bob ${i} `.padEnd(900, "b")).catch((error: unknown) => (refused = error));
    }
    expect(refused).toBeInstanceOf(AgentError);
    expect(refused).toMatchObject({ code: "storage_full", message: expect.stringContaining("free some space") });

    const sent = Array.from({ length: 20 }, (_, i) => `alice ${i}`);
    for (const m of sent) await alice.send(CHANNEL, m);
    const start = Date.now();
    while (!bobLog.some((l) => l.includes("the relay stream waits")) && Date.now() - start < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(bobLog.some((l) => l.includes("the relay stream waits"))).toBe(true);
    expect(bobLog.join("\n")).not.toContain("alice 1");

    disk.free();
    const got: string[] = [];
    while (got.length < sent.length && Date.now() - start < 30_000) {
      const r = await bob.receive({ channel: CHANNEL, waitMs: 1000 });
      got.push(...r.messages.filter((m) => m.sender === "alice").map((m) => m.message));
    }
    expect(got).toEqual(sent);
    expect((await bob.receive({ channel: CHANNEL, waitMs: 200 })).messages).toEqual([]);
    await bob.send(CHANNEL, "bob is back");
    const back = await alice.receive({ channel: CHANNEL, waitMs: 10_000 });
    expect(back.messages.map((m) => m.message)).toContain("bob is back");
  });
});
