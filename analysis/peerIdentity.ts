// Two agents in child processes of their own, where one adds the other to a channel: it adds by key,
// as a contact (an agent is its key; a name alone adds nobody). The added one leaves its did:key
// beside the data dirs, and the adder waits for it. Shared by the analysis and the benchmarks.
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Agent } from "../src/agent/agent.js";

const fileOf = (dataDir: string, name: string) => join(dirname(dataDir), `${name}.did`);

/** Leaves `did` for the other processes whose data dirs sit beside `dataDir`. */
export function announceDid(dataDir: string, name: string, did: string): void {
  const file = fileOf(dataDir, name);
  writeFileSync(`${file}.part`, did);
  renameSync(`${file}.part`, file); // the reader never sees half of it
}

/** The did:key `name` announced beside `dataDir` (this process's own data dir), once it has. */
export async function peerDid(dataDir: string, name: string, timeoutMs = 60_000): Promise<string> {
  const file = fileOf(dataDir, name);
  for (const until = Date.now() + timeoutMs; !existsSync(file); ) {
    if (Date.now() > until) throw new Error(`${name} never said who it is`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return readFileSync(file, "utf8");
}

/**
 * Creates `channel` on `agent` and adds `peer` by the key it announced beside `dataDir`, trying
 * again while the peer has no key package at the relay yet (it may still be starting).
 */
export async function createWithPeer(agent: Agent, dataDir: string, channel: string, peer: string, attempts = 200, pauseMs = 100): Promise<void> {
  await agent.createChannel(channel);
  await agent.addContact(peer, { did: await peerDid(dataDir, peer) });
  for (let attempt = 0; ; attempt++) {
    try {
      await agent.addMember(channel, { agent: peer });
      return;
    } catch (error) {
      if (attempt > attempts) throw error;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }
}
