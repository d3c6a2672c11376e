// npm run analysis: a trained attacker against the cover traffic of one agent's link. For each
// cover setting, a relay and two real agents (each its own process, MLS and SQLite on their own
// clocks) play labelled workflows in 4-s traces while a passive observer notes the time, direction
// and size of every WebSocket message on alice's link; a random forest on k-fingerprinting-style
// features then tries to tell the workflows apart, cross-validated. Results and one picture per
// setting go into docs/security.md and docs/img/.
// Usage: npm run analysis [-- --settings "off;poisson:8:1024" --per-workflow 40 --save DIR | --load DIR]
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { attack } from "./attack.js";
import { tracePlot } from "./plots.js";
import { renderReport, writeReport, type SettingResult } from "./report.js";
import { runSession, type Capture, type Setting } from "./session.js";
import { uplinkLateness } from "./slotTiming.js";
import { WORKFLOWS } from "./workflows.js";

const { values } = parseArgs({
  options: {
    settings: { type: "string", default: "off;poisson:8:1024;constant:32:1024;poisson:32:1024" },
    "per-workflow": { type: "string", default: "30" },
    "trace-ms": { type: "string", default: "4000" },
    seed: { type: "string", default: "20251215" },
    trees: { type: "string", default: "500" },
    folds: { type: "string", default: "5" },
    out: { type: "string", default: "docs/security.md" },
    "img-dir": { type: "string", default: "docs/img" },
    save: { type: "string" },
    load: { type: "string" },
    "no-write": { type: "boolean", default: false },
  },
});

/** "off", "poisson:8" or "poisson:8:1024" (mode, slots per second, cell bytes). */
export function parseSetting(text: string): Setting {
  const [mode, rate, cell] = text.split(":");
  if (mode === "off") return { label: "off", agentCover: { mode: "off", rate: 0 }, relayFlags: ["--cover", "off"] };
  if (mode === undefined || rate === undefined) throw new Error(`a setting is off or mode:rate[:cell], got '${text}'`);
  return {
    label: text,
    agentCover: { mode, rate: Number(rate), ...(cell === undefined ? {} : { cell: Number(cell) }) },
    relayFlags: ["--cover", mode, "--cover-rate", rate, ...(cell === undefined ? [] : ["--cover-cell", cell])],
  };
}

function describe(s: Setting): string {
  const c = s.agentCover as { mode: string; rate: number; cell?: number };
  if (c.mode === "off") return "no cover traffic; frames leave as soon as they are sealed";
  return `\`${c.mode}\` cover at ${c.rate} frames/s${c.cell === undefined ? "" : ` of ${c.cell} bytes`} on both sides of the link (agents and relay alike)`;
}

const wsLog = (line: string) => {
  if (process.env.ANALYSIS_DEBUG || /error|fail|exited/i.test(line)) process.stderr.write(`${line}\n`);
};

function analyse(capture: Capture, imgDir: string, options: { trees: number; folds: number; seed: number }): SettingResult {
  const result = attack(capture, options);
  const cover = capture.setting.agentCover as { mode: string; rate: number };
  const idle = capture.plan.flatMap((t, i) => (t.workflow === "idle" ? [i] : []));
  const rate = (indices: number[], dir: "up" | "down") => (indices.reduce((s, i) => s + capture.tcpBytes[i]![dir], 0) * 1000) / (indices.length * capture.traceMs);
  const all = capture.plan.map((_, i) => i);
  const top = result.names
    .map((name, j) => ({ name, importance: result.workflows.importance[j] as number }))
    .sort((a, b) => b.importance - a.importance)
    .slice(0, 5);
  const sentPerTrace = Object.fromEntries(
    WORKFLOWS.map((w) => {
      const mine = capture.plan.flatMap((t, i) => (t.workflow === w ? [i] : []));
      const mean = (xs: number[]) => mine.reduce((s, i) => s + (xs[i] ?? 0), 0) / Math.max(1, mine.length);
      return [w, { alice: mean(capture.sent.alice), bob: mean(capture.sent.bob) }];
    }),
  );
  const relative = (index: number) => {
    const t = capture.plan[index]!;
    return capture.events.filter((e) => e.at >= t.startAt && e.at < t.startAt + capture.traceMs).map((e) => ({ ...e, at: e.at - t.startAt }));
  };
  const firstOf = (w: string) => capture.plan.findIndex((t) => t.workflow === w);
  const file = `traffic-${capture.setting.label.replace(/[^a-z0-9]+/gi, "-")}.svg`;
  mkdirSync(imgDir, { recursive: true });
  writeFileSync(
    join(imgDir, file),
    tracePlot(`cover ${capture.setting.label}: what an observer of alice's link sees`, [
      { title: `a tool-call trace (#${firstOf("tool")})`, events: relative(firstOf("tool")), durationMs: capture.traceMs },
      { title: `an idle trace (#${firstOf("idle")})`, events: relative(firstOf("idle")), durationMs: capture.traceMs },
    ]),
  );
  return {
    label: capture.setting.label,
    description: describe(capture.setting),
    traces: capture.plan.length,
    workflows: result.workflows,
    activeIdle: result.activeIdle,
    topFeatures: top,
    idleBytesPerSecond: { up: rate(idle, "up"), down: rate(idle, "down") },
    meanBytesPerSecond: { up: rate(all, "up"), down: rate(all, "down") },
    sentPerTrace,
    framesPerTrace: capture.plan.reduce((s, t) => s + capture.events.filter((e) => e.at >= t.startAt && e.at < t.startAt + capture.traceMs).length, 0) / capture.plan.length,
    plot: `img/${file}`,
    ...(cover.mode === "constant" ? { lateness: uplinkLateness(capture.events, cover.rate, capture.plan, capture.traceMs) } : {}),
  };
}

async function main(): Promise<void> {
  const started = new Date();
  const loadAverage = loadavg()[0] ?? 0;
  const perWorkflow = Number(values["per-workflow"]);
  const traceMs = Number(values["trace-ms"]);
  const seed = Number(values.seed);
  const options = { trees: Number(values.trees), folds: Number(values.folds), seed };
  const settings = values.settings.split(";").map(parseSetting);
  const results: SettingResult[] = [];
  const captured: number[] = [];
  for (const setting of settings) {
    const file = (dir: string) => join(dir, `capture-${setting.label.replace(/[^a-z0-9]+/gi, "-")}.json`);
    let capture: Capture;
    if (values.load !== undefined) {
      capture = JSON.parse(readFileSync(file(values.load), "utf8")) as Capture;
    } else {
      process.stderr.write(`${setting.label}: capturing ${perWorkflow * WORKFLOWS.length} traces (~${Math.ceil((perWorkflow * WORKFLOWS.length * traceMs) / 60_000)} min)...\n`);
      capture = await runSession({ setting, perWorkflow, traceMs, seed, log: wsLog });
      if (values.save !== undefined) {
        mkdirSync(values.save, { recursive: true });
        writeFileSync(file(values.save), JSON.stringify(capture));
      }
    }
    captured.push(capture.plan[0]?.startAt ?? 0, (capture.plan.at(-1)?.startAt ?? 0) + capture.traceMs);
    const result = analyse(capture, values["img-dir"], options);
    process.stderr.write(
      `${setting.label}: workflows ${(100 * result.workflows.accuracy).toFixed(1)}% [${(100 * result.workflows.low).toFixed(1)}, ${(100 * result.workflows.high).toFixed(1)}], ` +
        `active/idle ${(100 * result.activeIdle.accuracy).toFixed(1)}% [${(100 * result.activeIdle.low).toFixed(1)}, ${(100 * result.activeIdle.high).toFixed(1)}], ` +
        `idle ${result.idleBytesPerSecond.up.toFixed(0)}/${result.idleBytesPerSecond.down.toFixed(0)} B/s, top ${result.topFeatures.map((f) => f.name).join(", ")}\n`,
    );
    results.push(result);
  }
  const command = `npm run analysis${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
  const capturedAt = values.load === undefined ? undefined : { from: new Date(Math.min(...captured)), to: new Date(Math.max(...captured)) };
  const report = renderReport({ started, finished: new Date(), command, perWorkflow, traceMs, trees: options.trees, folds: options.folds, seed, loadAverage, ...(capturedAt ? { capturedAt } : {}) }, results);
  process.stdout.write(report);
  if (!values["no-write"]) {
    writeReport(values.out, report);
    process.stderr.write(`results written to ${values.out}\n`);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  process.exit(1);
});
