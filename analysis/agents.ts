// Two real MLS agents in one channel, on real stores in temp dirs (like test/helpers.ts, without vitest).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MlsAgent, type ChannelOpening, type OutgoingCommit } from "../src/mls/mlsAgent.js";
import { AgentStore } from "../src/store/agentStore.js";

export interface Agent {
  readonly name: string;
  readonly store: AgentStore;
  readonly mls: MlsAgent;
}

const dirs: string[] = [];

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export function removeTempDirs(): void {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
}

async function openAgent(name: string): Promise<Agent> {
  const store = AgentStore.open(tempDir(`skytale-analysis-${name}-`));
  return { name, store, mls: await MlsAgent.open({ name, port: store }) };
}

/** A relay's view of the pair's channel: its opening and the commit that added the receiver. */
export interface ChannelHistory {
  readonly opening: ChannelOpening;
  readonly add: OutgoingCommit;
}

/** `sender` creates the channel and adds `receiver`, who joins from the Welcome. */
export async function pairInChannel(channel: string): Promise<{ sender: Agent; receiver: Agent; groupId: Uint8Array; history: ChannelHistory }> {
  const sender = await openAgent("alice");
  const receiver = await openAgent("bob");
  const { opening } = await sender.mls.createChannel(channel);
  const add = await sender.mls.addMembers(channel, [await receiver.mls.createKeyPackage()]);
  await sender.mls.receive(channel, add.commit, 0);
  if (add.welcome === undefined) throw new Error("no Welcome for bob");
  await receiver.mls.join(add.welcome, 0);
  return { sender, receiver, groupId: (await sender.mls.channelInfo(channel)).groupId, history: { opening, add } };
}

/** What a RelayClient needs to speak for `agent`. */
export function identityOf(agent: Agent): { key: Uint8Array; prove(binding: Uint8Array): Promise<Uint8Array> } {
  return { key: agent.mls.identity.signaturePublicKey, prove: (binding) => agent.mls.proveLink(binding) };
}
