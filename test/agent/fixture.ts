// Real relays and channel managers for tests, all closed (newest first) after each test.
import { afterEach } from "vitest";
import { Agent, type AgentConfig } from "../../src/agent/agent.js";
import type { SendResult } from "../../src/agent/types.js";
import { parseRelayConfig } from "../../src/relay/config.js";
import { Relay } from "../../src/relay/relayServer.js";
import { tempDir } from "../helpers.js";

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await Promise.resolve(c()).catch(() => undefined);
});

/** Runs `fn` after the current test, before what was registered earlier. */
export function afterThisTest(fn: () => unknown): void {
  cleanups.push(fn);
}

/** A quiet relay on 127.0.0.1, a free port, cover off, on `dataDir` (default: a fresh temp dir). */
export async function startRelay(dataDir = tempDir("skytale-relay-")): Promise<Relay> {
  const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", dataDir, "--cover", "off"], {}), { log: () => {} });
  afterThisTest(() => relay.close());
  return relay;
}

/** An agent's config for `relay`: its own temp data dir, cover off, logs only with AGENT_DEBUG set. */
export function agentConfig(relay: Relay, name: string, overrides: Partial<AgentConfig> = {}): AgentConfig {
  const log = (line: string) => process.env.AGENT_DEBUG && console.error(name, line);
  return { name, dataDir: tempDir(`skytale-${name}-`), relayUrl: relay.url, relayKey: relay.relayKey.publicKey, cover: { mode: "off", rate: 0 }, log, ...overrides };
}

/** Opens an agent, closed after the test. */
export async function openAgent(config: AgentConfig): Promise<Agent> {
  const agent = await Agent.open(config);
  afterThisTest(() => agent.close());
  return agent;
}

/**
 * Makes the agents each other's contacts, as people who exchanged their did:keys do: then they add
 * each other by name, and join channels the others add them to without an offer to answer.
 */
export async function introduce(...agents: Agent[]): Promise<void> {
  for (const a of agents) {
    for (const b of agents) if (a !== b) await a.addContact(b.identity.name, { did: b.identity.did });
  }
}

/**
 * Adds `agent` (introduced first, unless `by` knows it already: it may be offline now) to
 * `channel` once its key packages are at the relay (it publishes them on start).
 */
export async function addWhenPublished(by: Agent, channel: string, agent: Agent): Promise<void> {
  if (!(await by.contacts()).some((c) => c.did === agent.identity.did)) await introduce(by, agent);
  for (let attempt = 0; ; attempt++) {
    try {
      await by.addMember(channel, { agent: agent.identity.name });
      return;
    } catch (error) {
      if (attempt > 50) throw error;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/** The seq of a send the relay took; fails the test for one answered "queued". */
export function seqOf(result: SendResult): number {
  if (result.status !== "sent") throw new Error(`expected the relay to take the message, but it was queued: ${result.reason}`);
  return result.seq;
}
