// Faults (issue 5): agents and the relay SIGKILLed at random while messages flow and members
// change. The short run is part of `npm test`; `npm run soak` runs 10,000 messages
// over at least 3 minutes (CHAOS_MESSAGES, CHAOS_SEED, CHAOS_MIN_MS and CHAOS_MAX_MS override;
// CHAOS_BACKLOG_FRAMES bounds each agent's relay stream, to run its drop-and-fetch-again path)
// and writes docs/soak.md.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { tempDir } from "../helpers.js";
import { runChaos } from "./scenario.js";
import { writeSoakReport } from "./soakReport.js";

const soak = process.env.CHAOS_MESSAGES !== undefined;
const messages = Number(process.env.CHAOS_MESSAGES ?? 500);
const seed = Number(process.env.CHAOS_SEED ?? 5);
const maxMs = Number(process.env.CHAOS_MAX_MS ?? (soak ? 20 * 60_000 : 20_000));

describe("chaos", () => {
  it(`${messages} messages among 5 agents while the relay and agents are killed at random (seed ${seed})`, { timeout: maxMs + 240_000 }, async () => {
    const root = process.env.CHAOS_ROOT ?? tempDir("skytale-chaos-");
    const stats = await runChaos({
      root,
      seed,
      messages,
      agents: 5,
      relayKillMs: soak ? [2000, 6000] : [1000, 2500],
      agentKillMs: soak ? [1500, 4000] : [1000, 2500],
      membershipMs: soak ? [2000, 5000] : [1500, 3000],
      downMs: 800,
      maxMs,
      // A quiet machine sends 500 messages in under a second and 10,000 in about a minute: spread
      // them, so that every kind of fault strikes, and often.
      minMs: Number(process.env.CHAOS_MIN_MS ?? (soak ? 180_000 : 10_000)),
      log: process.env.CHAOS_VERBOSE ? (line) => console.warn(line) : undefined,
    });
    const summary = { ...stats, report: { ...stats.report, violations: stats.report.violations.slice(0, 20) } };
    if (soak || process.env.CHAOS_VERBOSE || stats.report.violations.length > 0) console.warn(JSON.stringify(summary, null, 1));
    if (soak) writeSoakReport(stats, messages);
    // The run's directory is gone after a CI run: the agents' own logs (codes and seqs, never
    // plaintext) of the ones a violation names go with the failure.
    for (const name of new Set(stats.report.violations.map((v) => /^a\d+/.exec(v.detail)?.[0]).filter((n) => n !== undefined))) {
      const file = join(root, "logs", `${name}.log`);
      if (existsSync(file)) console.warn(`--- last lines of ${name}.log\n${readFileSync(file, "utf8").split("\n").slice(-60).join("\n")}`);
    }
    expect(stats.report.violations).toEqual([]);
    expect(stats.relayKills).toBeGreaterThan(0);
    expect(stats.agentKills).toBeGreaterThan(0);
    expect(stats.report.deliveriesChecked).toBeGreaterThan(0);
    expect(stats.packed).toBeGreaterThan(0);
  });
});
