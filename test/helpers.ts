import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll } from "vitest";
import { MlsAgent } from "../src/mls/mlsAgent.js";
import { AgentStore } from "../src/store/agentStore.js";

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

/** An agent on a real SQLite store in its own temp dir. */
export async function openAgent(name: string, dir = tempDir(`skytale-${name}-`), clock?: () => number): Promise<TestAgent> {
  const store = AgentStore.open(dir);
  const mls = await MlsAgent.open({ name, port: store, ...(clock ? { clock } : {}) });
  return { name, dir, store, mls };
}

/** Closes and reopens an agent's store and engine, as a process restart would. */
export async function restart(agent: TestAgent, clock?: () => number): Promise<void> {
  agent.store.close();
  agent.store = AgentStore.open(agent.dir);
  agent.mls = await MlsAgent.open({ name: agent.name, port: agent.store, ...(clock ? { clock } : {}) });
}

/** A stand-in for the relay's per-channel order: numbers each message and hands it to everyone. */
export class ChannelStream {
  private seq = 0;
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
