// Faults on a clustered relay (issue 16): three relay nodes on a three-server NATS cluster
// (streams with three replicas), five agents given all three nodes' URLs. While messages flow
// and members change, relay nodes and one NATS server at a time are SIGKILLed and restarted, and
// agents too. The short run is part of `npm test`; `npm run soak` runs 10,000 messages
// (CHAOS_MESSAGES, CHAOS_SEED, CHAOS_MIN_MS and CHAOS_MAX_MS override) and writes docs/soak-cluster.md.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { runChaos } from "./scenario.js";
import { writeSoakReport } from "./soakReport.js";

const soak = process.env.CHAOS_MESSAGES !== undefined;
const messages = Number(process.env.CHAOS_MESSAGES ?? 300);
const seed = Number(process.env.CHAOS_SEED ?? 16);
const maxMs = Number(process.env.CHAOS_MAX_MS ?? (soak ? 25 * 60_000 : 25_000));

describe("chaos on a clustered relay", () => {
  it(`${messages} messages among 5 agents while relay nodes, NATS servers and agents are killed at random (seed ${seed})`, { timeout: maxMs + 240_000 }, async () => {
    const root = process.env.CHAOS_ROOT ?? tempDir("skytale-cluster-chaos-");
    const stats = await runChaos({
      root,
      seed,
      messages,
      agents: 5,
      cluster: { natsKillMs: soak ? [3000, 8000] : [2000, 4000] },
      relayKillMs: soak ? [2000, 6000] : [1500, 3000],
      agentKillMs: soak ? [1500, 4000] : [1500, 3000],
      membershipMs: soak ? [2000, 5000] : [1500, 3000],
      downMs: 800,
      maxMs,
      minMs: Number(process.env.CHAOS_MIN_MS ?? (soak ? 240_000 : 12_000)),
      log: process.env.CHAOS_VERBOSE ? (line) => console.warn(line) : undefined,
    });
    const summary = { ...stats, report: { ...stats.report, violations: stats.report.violations.slice(0, 20) } };
    const quiet = stats.relayKills === 0 || stats.natsKills === 0 || stats.agentKills === 0;
    if (soak || process.env.CHAOS_VERBOSE || stats.report.violations.length > 0 || quiet) console.warn(JSON.stringify(summary, null, 1));
    if (soak) writeSoakReport(stats, messages, "cluster");
    for (const name of new Set(stats.report.violations.map((v) => /^a\d+/.exec(v.detail)?.[0]).filter((n) => n !== undefined))) {
      const file = join(root, "logs", `${name}.log`);
      if (existsSync(file)) console.warn(`--- last lines of ${name}.log\n${readFileSync(file, "utf8").split("\n").slice(-60).join("\n")}`);
    }
    expect(stats.report.violations).toEqual([]);
    expect(stats.relayKills).toBeGreaterThan(0);
    expect(stats.natsKills).toBeGreaterThan(0);
    expect(stats.agentKills).toBeGreaterThan(0);
    expect(stats.report.deliveriesChecked).toBeGreaterThan(0);
  });
});
