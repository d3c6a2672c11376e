import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { decodeGroupState, defaultCapabilities, generateKeyPackageWithKey, type ClientState } from "ts-mls";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { afterAll } from "vitest";
import { credentialFor } from "../src/mls/identity.js";
import { decodeMessage, encodeKeyPackageMessage } from "../src/mls/messages.js";
import { MlsAgent, type ChannelOpening, type OutgoingCommit } from "../src/mls/mlsAgent.js";
import { clientConfig, loadCiphersuite } from "../src/mls/suite.js";
import { AgentStore } from "../src/store/agentStore.js";
import type { RelayClient } from "../src/transport/relayClient.js";
import { testIdentity } from "./identity.js";

const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A fresh temp dir, removed when the test file ends. */
export function tempDir(prefix = "skytale-test-"): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(dir);
  return dir;
}

export interface TestAgent {
  readonly name: string;
  readonly dir: string;
  store: AgentStore;
  mls: MlsAgent;
}

/**
 * An agent on a real SQLite store in its own temp dir. A new dir gets the test identity of its
 * name (identity.ts), so that relay tests can speak for it on a raw link; `variant` gives the name
 * another key (someone else calling itself by it).
 */
export async function openAgent(name: string, dir = tempDir(`skytale-${name}-`), clock?: () => number, variant = ""): Promise<TestAgent> {
  const store = AgentStore.open(dir);
  if (store.loadIdentity() === undefined) {
    const identity = testIdentity(name, variant);
    store.saveIdentity({ name, signaturePublicKey: identity.key, signaturePrivateKey: identity.seed });
  }
  const mls = await MlsAgent.open({ name, port: store, ...(clock ? { clock } : {}) });
  return { name, dir, store, mls };
}

/** Closes and reopens an agent's store and engine, as a process restart would. */
export async function restart(agent: TestAgent, clock?: () => number): Promise<void> {
  agent.store.close();
  agent.store = AgentStore.open(agent.dir);
  agent.mls = await MlsAgent.open({ name: agent.name, port: agent.store, ...(clock ? { clock } : {}) });
}

/**
 * A stand-in for the relay's per-channel order: numbers each message and hands it to everyone.
 * It keeps what a real relay would need to hold the channel too: its opening, and the commits
 * made through groupFrom (see relayFixture's openAtRelay).
 */
export class ChannelStream {
  private seq = 0;
  opening: ChannelOpening | undefined;
  readonly commits: OutgoingCommit[] = [];
  constructor(readonly channel: string) {}

  async publish(bytes: Uint8Array, members: readonly TestAgent[]) {
    const seq = this.seq++;
    const outcomes = [];
    for (const m of members) outcomes.push(...(await m.mls.receive(this.channel, bytes, seq)));
    return outcomes;
  }

  next(): number {
    return this.seq++;
  }
}

export const text = (s: string) => new TextEncoder().encode(s);
export const untext = (b: Uint8Array) => new TextDecoder().decode(b);

/** A channel created by the first agent, with the others added in one commit and joined. */
export async function groupOf(channel: string, ...names: string[]): Promise<[TestAgent[], ChannelStream]> {
  return groupFrom(channel, await Promise.all(names.map((n) => openAgent(n))));
}

/** A channel created by the first of these agents, with the others added in one commit and joined. */
export async function groupFrom(channel: string, agents: TestAgent[]): Promise<[TestAgent[], ChannelStream]> {
  const [creator, ...rest] = agents as [TestAgent, ...TestAgent[]];
  const stream = new ChannelStream(channel);
  stream.opening = (await creator.mls.createChannel(channel)).opening;
  if (rest.length > 0) {
    const add = await creator.mls.addMembers(channel, await Promise.all(rest.map((a) => a.mls.createKeyPackage())));
    stream.commits.push(add);
    await stream.publish(add.commit, [creator]);
    for (const a of rest) await a.mls.join(add.welcome!, 0);
  }
  return [agents, stream];
}

/** An agent's current group state, decoded from its store as a second reader would. */
export function stateOf(agent: TestAgent, channel: string): ClientState {
  const stored = agent.store.loadGroup(channel);
  if (stored === undefined) throw new Error(`${agent.name} has no group for ${channel}`);
  return { ...decodeGroupState(stored.state, 0)![0], clientConfig };
}

/** The ratchet generation a PrivateMessage was sent with, read with `receiver`'s epoch secrets. */
export async function generationOf(receiver: TestAgent, channel: string, bytes: Uint8Array): Promise<number> {
  const senderData = await decryptSenderData(privateMessageOf(bytes), stateOf(receiver, channel).keySchedule.senderDataSecret, await loadCiphersuite());
  if (senderData === undefined) throw new Error("sender data did not decrypt");
  return senderData.generation;
}

export function privateMessageOf(bytes: Uint8Array) {
  const m = decodeMessage(bytes);
  if (m.wireformat !== "mls_private_message") throw new Error("not a PrivateMessage");
  return m.privateMessage;
}

/**
 * A key package as an older release made it, for `name` under a fresh key: its leaf advertises
 * only `extensions` of our private capabilities (what that release read).
 */
export async function keyPackageAdvertising(name: string, extensions: readonly number[]): Promise<Uint8Array> {
  const cs = await loadCiphersuite();
  const keys = await cs.signature.keygen();
  const now = BigInt(Math.floor(Date.now() / 1000));
  const capabilities = defaultCapabilities();
  const { publicPackage } = await generateKeyPackageWithKey(
    credentialFor(name, keys.publicKey),
    { ...capabilities, extensions: [...capabilities.extensions, ...extensions] },
    { notBefore: now - 60n, notAfter: now + 86_400n },
    [],
    keys,
    cs,
  );
  return encodeKeyPackageMessage(publicPackage);
}

/** Brings a real relay up to a groupFrom channel through its creator's RelayClient: the opening, then its commits. */
export async function openThrough(creator: Pick<RelayClient, "openChannel" | "sendCommit">, stream: ChannelStream): Promise<void> {
  if (stream.opening === undefined) throw new Error("the channel was not created through groupFrom");
  await creator.openChannel(stream.opening);
  for (const c of stream.commits) {
    const verdict = await creator.sendCommit(c.commit, undefined, c.proof);
    if (verdict.kind !== "ack") throw new Error("the relay refused a commit of the channel's history");
  }
}

/** Polls `check` until it holds; fails the test past `ms`. */
export async function eventually(check: () => Promise<boolean> | boolean, ms = 15_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Every SKYTALE_ environment variable the code in src/ reads or names. */
export function skytaleVariablesInSource(): Set<string> {
  const src = join(import.meta.dirname, "../src");
  const text = readdirSync(src, { recursive: true, encoding: "utf8" })
    .filter((f) => f.endsWith(".ts"))
    .map((f) => readFileSync(join(src, f), "utf8"))
    .join("\n");
  return new Set(text.match(/SKYTALE_[A-Z_]+[A-Z]/g));
}

/** A relay auth secret strong enough for the relay's check (a fixed value, for tests only). */
export const TEST_SECRET = "4f1c9a0e7b2d5c8a13e6f09b7d2a4c61e8b5f3a90d7c2e6b1a4f8d3c9e0b7a25";
