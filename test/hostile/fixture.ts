// Real agents (real SQLite data dirs) talking through a HostileRelay in front of a real Relay.
import { afterEach } from "vitest";
import { Agent } from "../../src/agent/agent.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import type { Envelope } from "../../src/wire/envelope.js";
import { readMlsRouting } from "../../src/wire/mlsHeader.js";
import { didKeyOf } from "../../src/mls/didKey.js";
import { AgentStore } from "../../src/store/agentStore.js";
import { tempDir } from "../helpers.js";
import { testIdentity, testKeyOf } from "../identity.js";
import { HostileRelay } from "./hostileRelay.js";

export const CHANNEL = "acme/hostile/test";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

export interface TestAgent {
  readonly agent: Agent;
  readonly dataDir: string;
  /** Everything the agent logged (codes and sequence numbers, never plaintext). */
  readonly log: string[];
  /** Codes of the warnings receive() returned so far. */
  readonly warnings: string[];
}

/** receive(), keeping the warnings it reports. */
export async function receive(t: TestAgent, waitMs = 0): Promise<string[]> {
  const r = await t.agent.receive({ channel: CHANNEL, waitMs });
  t.warnings.push(...(r.warnings ?? []).map((w) => w.code));
  return r.messages.map((m) => `${m.sender}: ${m.message}`);
}

export interface World {
  readonly relay: Relay;
  readonly hostile: HostileRelay;
  /** An agent on a fresh data dir, or on `dataDir` again (a restart). */
  open(name: string, dataDir?: string): Promise<TestAgent>;
}

export async function world(): Promise<World> {
  const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", tempDir("skytale-relay-"), "--cover", "off"], {}), { log: () => {} });
  cleanups.push(() => relay.close());
  const hostile = await HostileRelay.start(relay.url, relay.relayKey.publicKey);
  cleanups.push(() => hostile.close());
  /** The agents opened in this world: they are each other's contacts, as colleagues are. */
  const opened: { name: string; agent: Agent }[] = [];
  return {
    relay,
    hostile,
    async open(name, dataDir = tempDir(`skytale-${name}-`)) {
      seedIdentity(name, dataDir);
      const log: string[] = [];
      const agent = await Agent.open({
        name,
        dataDir,
        relayUrl: hostile.url,
        relayKey: hostile.key.publicKey,
        cover: { mode: "off", rate: 0 },
        sendTimeoutMs: 10_000,
        log: (line) => {
          log.push(line);
          if (process.env.AGENT_DEBUG) console.error(name, line);
        },
      });
      cleanups.push(() => agent.close());
      for (const other of opened) {
        if (other.name === name) continue;
        await agent.addContact(other.name, { did: didKeyOf(testKeyOf(other.name)) });
        // One that was closed (restarted under another handle) learns it when it is opened again.
        await other.agent.addContact(name, { did: didKeyOf(testKeyOf(name)) }).catch(() => undefined);
      }
      opened.push({ name, agent });
      return { agent, dataDir, log, warnings: [] };
    },
  };
}

export async function eventually(check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Gives a new data dir the test identity of `name` (identity.ts): the hostile relay authenticates
 * upstream as the agent with it, as the relay the agent trusts would see it.
 */
function seedIdentity(name: string, dataDir: string): void {
  const store = AgentStore.open(dataDir);
  try {
    if (store.loadIdentity() !== undefined) return;
    const identity = testIdentity(name);
    store.saveIdentity({ name, signaturePublicKey: identity.key, signaturePrivateKey: identity.seed });
  } finally {
    store.close();
  }
}

/** `by` adds `name` (by its key) to CHANNEL through the relay's directory, once `name` has published key packages. */
export async function addByName(by: TestAgent, name: string): Promise<void> {
  await eventually(async () => {
    try {
      await by.agent.addMember(CHANNEL, { agent: didKeyOf(testKeyOf(name)) });
      return true;
    } catch (error) {
      if ((error as { code?: string }).code === "not_found") return false;
      throw error;
    }
  });
}

/**
 * A channel made by the first agent with the others added through the relay's directory (each
 * has the first as a contact, so it joins rather than keeping the add as an offer).
 */
export async function channelOf(first: TestAgent, ...others: { name: string; t: TestAgent }[]): Promise<void> {
  await first.agent.createChannel(CHANNEL);
  for (const { name, t } of others) {
    await t.agent.addContact(first.agent.identity.name, { did: first.agent.identity.did });
    // Each agent publishes key packages once it is connected.
    await addByName(first, name);
    await eventually(async () => (await t.agent.channels()).some((c) => c.channel === CHANNEL));
  }
}

/** Everything `agent` receives from CHANNEL within `ms`, as "sender: text". */
export async function drain(t: TestAgent, ms = 300): Promise<string[]> {
  const out: string[] = [];
  for (;;) {
    const got = await receive(t, ms);
    if (got.length === 0) return out;
    out.push(...got);
  }
}

/** Receives until `count` messages came (or `ms` passed). */
export async function receiveN(t: TestAgent, count: number, ms = 10_000): Promise<string[]> {
  const out: string[] = [];
  const until = Date.now() + ms;
  while (out.length < count && Date.now() < until) out.push(...(await receive(t, Math.max(1, until - Date.now()))));
  return out;
}

/** The MLS body of a channel envelope, if it carries one. */
export function mlsBody(e: Envelope): Uint8Array | undefined {
  if (e.type === "Msg" || e.type === "GroupProposal") return e.body;
  if (e.type === "GroupCommit") return e.commit;
  return undefined;
}

export function epochOf(e: Envelope): bigint | undefined {
  const body = mlsBody(e);
  return body === undefined ? undefined : readMlsRouting(body).epoch;
}

/** The same envelope with its MLS body replaced. */
export function withBody(e: Envelope, body: Uint8Array): Envelope {
  if (e.type === "Msg" || e.type === "GroupProposal") return { ...e, body };
  if (e.type === "GroupCommit") return { ...e, commit: body };
  return e;
}

/** Receives until `expected` comes (messages others sent earlier may come first). */
async function expectFrom(t: TestAgent, expected: string): Promise<void> {
  const got: string[] = [];
  const until = Date.now() + 10_000;
  while (!got.includes(expected) && Date.now() < until) got.push(...(await receive(t, Math.max(1, until - Date.now()))));
  if (!got.includes(expected)) throw new Error(`no '${expected}' after recovery: ${JSON.stringify(got)}`);
}

/** Both agents can talk both ways, a commit succeeds and they end at the same epoch with the same members. */
export async function healthy(a: TestAgent, b: TestAgent, tag: string): Promise<void> {
  await a.agent.send(CHANNEL, `${tag} a→b`);
  await b.agent.send(CHANNEL, `${tag} b→a`);
  await expectFrom(b, `${a.agent.identity.name}: ${tag} a→b`);
  await expectFrom(a, `${b.agent.identity.name}: ${tag} b→a`);
  const rotated = await a.agent.rotateKeys(CHANNEL);
  await eventually(async () => (await b.agent.members(CHANNEL)).epoch === rotated.epoch);
}
