// Shared by the benchmark scripts: timing, machine description, and the docs/benchmarks.md writer.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus, loadavg, totalmem } from "node:os";
import { performance } from "node:perf_hooks";

const DOC = new URL("../docs/benchmarks.md", import.meta.url);

export async function timeMs(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

export function rate(count: number, ms: number): string {
  return Math.round((count * 1000) / ms).toString();
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

export function machineLine(): string {
  const cpu = cpus();
  return `Machine: ${cpu.length} × ${cpu[0]?.model.trim() ?? "unknown CPU"}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}; ${new Date().toISOString().slice(0, 10)}.`;
}

/** The 1-minute load average now, for scripts that do not track it themselves: 2 means both cores busy. */
export function loadLine(): string {
  return `Load average (1 min) ${loadavg()[0]!.toFixed(1)} when it finished, on 2 cores shared with whatever else ran.`;
}

/** Replaces (or appends) the section between `<!-- name -->` markers in docs/benchmarks.md. */
export function replaceSection(name: string, heading: string, body: string): void {
  const begin = `<!-- ${name} -->`;
  const end = `<!-- /${name} -->`;
  const section = `${begin}\n${heading}\n\n${body}\n${end}`;
  const doc = existsSync(DOC) ? readFileSync(DOC, "utf8") : "# Benchmarks\n\nEach section is rewritten by the script it names.\n";
  const at = doc.indexOf(begin);
  const next = at >= 0 ? doc.slice(0, at) + section + doc.slice(doc.indexOf(end) + end.length) : `${doc.trimEnd()}\n\n${section}\n`;
  writeFileSync(DOC, next);
}
