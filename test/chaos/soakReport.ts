// Writes the soak run's result to docs/soak.md.
import { writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { join } from "node:path";
import type { ChaosStats } from "./scenario.js";

/** `kind`: the single relay on SQLite (docs/soak.md) or three relay nodes on a NATS cluster (docs/soak-cluster.md). */
export function writeSoakReport(stats: ChaosStats, messages: number, kind: "single" | "cluster" = "single"): void {
  const r = stats.report;
  const backlog = process.env.CHAOS_BACKLOG_FRAMES;
  const file = kind === "single" ? "chaos.test.ts" : "clusterChaos.test.ts";
  const setting =
    kind === "single"
      ? [
          "real `Agent` in its own process on its own SQLite data dir, share one channel through a relay",
          "that runs as a child process on one data dir. While messages flow, the relay is SIGKILLed and",
          "restarted on the same port and data dir, agents are SIGKILLed (idle, or at a random point inside",
        ]
      : [
          "real `Agent` in its own process on its own SQLite data dir, share one channel through three relay",
          "nodes (child processes, `--nats`) on a three-server NATS cluster (nats-server 2.10, streams with",
          "three replicas); each agent is given all three nodes' URLs. While messages flow, relay nodes and",
          "one NATS server at a time are SIGKILLed and restarted on the same port (and store), agents are",
          "SIGKILLed (idle, or at a random point inside",
        ];
  const lines = [
    kind === "single" ? "# Soak: chaos run" : "# Soak: chaos run on a clustered relay",
    "",
    `Written by \`npm run soak\` (test/chaos/${file} with CHAOS_MESSAGES set). Five agents, each a`,
    ...setting,
    "a send or a commit) and restarted on their data dir, and members are removed and added again.",
    "About one send in five is a burst of 2-5 overlapping sends, which the agent packs into one MLS message.",
    "What is checked is defined in test/chaos/checks.ts (`checkRun`).",
    "",
    `- date: ${new Date().toISOString()}`,
    `- machine: ${cpus().length} × ${cpus()[0]?.model ?? "?"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`,
    `- command: \`${backlog ? `CHAOS_BACKLOG_FRAMES=${backlog} ` : ""}npm run soak\` (this part: \`CHAOS_SEED=${stats.seed} CHAOS_MESSAGES=${messages} npx vitest run test/chaos/${file}\`)`,
    `- each agent's relay stream bound: ${backlog ? `${backlog} frames (CHAOS_BACKLOG_FRAMES), so frames past it are dropped and fetched again all the time` : "the default (2,048 frames)"}`,
    "",
    "| | |",
    "|---|---|",
    `| seed | ${stats.seed} |`,
    `| messages acknowledged / attempted | ${stats.acked} / ${stats.attempted} |`,
    `| acknowledged messages that shared their MLS message with another (packed) | ${stats.packed} |`,
    `| relay ${kind === "single" ? "" : "node "}kills | ${stats.relayKills} |`,
    ...(kind === "single" ? [] : [`| NATS server kills | ${stats.natsKills} |`]),
    `| agent kills (of which inside an operation) | ${stats.agentKills} (${stats.killsDuringOps}) |`,
    `| membership changes | ${stats.membershipChanges} |`,
    `| final epoch | ${stats.finalEpoch} |`,
    `| duration | ${(stats.durationMs / 1000).toFixed(0)} s |`,
    `| deliveries checked (acked message × recipient) | ${r.deliveriesChecked} |`,
    `| of which handed out by receive() to a driver killed before it recorded them | ${r.answeredToDeadCaller} |`,
    `| acked messages not checkable (epoch unobserved) | ${r.unchecked} |`,
    `| acked messages from senders removed before they were ordered (unreadable by design) | ${r.fromRemovedSenders} |`,
    `| (epoch, leaf, ratchet, generation) seen | ${r.generationsSeen} |`,
    `| violations | ${r.violations.length} |`,
    "",
    ...r.violations.slice(0, 30).map((v) => `- ${v.kind}: ${v.detail}`),
    "",
  ];
  writeFileSync(join(import.meta.dirname, "../../docs", kind === "single" ? "soak.md" : "soak-cluster.md"), lines.join("\n"));
}
