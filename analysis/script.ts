// The deterministic agent script: alternating active and idle periods, message times and sizes.
import { exponential, mulberry32 } from "./prng.js";

export interface ScriptParams {
  readonly seed: number;
  /** Number of periods, starting with an active one and alternating. */
  readonly periods: number;
  readonly periodMs: number;
  /** Mean gap between messages in an active period (exponential). */
  readonly meanGapMs: number;
  /** Share of large (5–20 KB) messages; the rest are 100 B–2 KB. */
  readonly largeShare: number;
}

export interface ScriptedMessage {
  /** Offset from the start of the run. */
  readonly atMs: number;
  readonly text: string;
}

export const isActivePeriod = (index: number) => index % 2 === 0;

/** JSON of about `size` bytes, shaped like an agent's tool call or result. */
function jsonBody(size: number, i: number, random: () => number): string {
  const words = ["status", "result", "plan", "step", "ok", "file", "diff", "error", "retry", "token", "summary", "context"];
  let content = "";
  while (content.length < size) content += `${words[Math.floor(random() * words.length)]} `;
  return JSON.stringify({ type: i % 3 === 0 ? "tool_call" : "tool_result", id: `m-${i}`, content: content.slice(0, Math.max(0, size - 60)) });
}

export function buildScript(p: ScriptParams): ScriptedMessage[] {
  const random = mulberry32(p.seed);
  const out: ScriptedMessage[] = [];
  for (let period = 0; period < p.periods; period++) {
    if (!isActivePeriod(period)) continue;
    const start = period * p.periodMs;
    // Keep the last 300 ms of an active period free so its frames land inside it.
    for (let t = exponential(random, p.meanGapMs); t < p.periodMs - 300; t += exponential(random, p.meanGapMs)) {
      const large = random() < p.largeShare;
      const size = large ? 5_000 + Math.floor(random() * 15_000) : 100 + Math.floor(random() * 1_900);
      out.push({ atMs: start + t, text: jsonBody(size, out.length, random) });
    }
  }
  return out;
}
