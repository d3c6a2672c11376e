// Whether slot timing holds while the agent works: with constant cover every uplink frame is due
// on a fixed lattice (one slot every 1/rate s), so how far each one left after its slot, as the
// observer's proxy saw it, is the event loop's lateness plus the socket's. Measured per workflow:
// if MLS and SQLite work on the agent's event loop delayed its slots, the busy workflows show it.
import type { WireEvent } from "./wireObserver.js";
import { WORKFLOWS, type TracePlan, type Workflow } from "./workflows.js";

export interface Lateness {
  readonly frames: number;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
  /** Slots with no frame at all (a gap of two periods or more): served so late they collapsed. */
  readonly missed: number;
}

const pct = (sorted: readonly number[], q: number) => (sorted.length === 0 ? 0 : (sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number));

/**
 * Lateness (ms) of every uplink frame against the lattice of period 1000/rate ms that fits the
 * least late of them: the lattice's phase is where the frames' phases (time modulo the period)
 * begin, after the widest empty stretch of the circle.
 */
export function uplinkLateness(events: readonly WireEvent[], rate: number, plan: readonly TracePlan[], traceMs: number): Record<Workflow, Lateness> {
  const period = 1000 / rate;
  const first = plan[0]?.startAt ?? 0;
  const up = events.filter((e) => e.dir === "up" && e.at >= first);
  const phases = up.map((e) => (((e.at - first) % period) + period) % period).sort((a, b) => a - b);
  let phase = phases[0] ?? 0;
  let widest = -1;
  phases.forEach((p, i) => {
    const gap = i === 0 ? p + period - (phases.at(-1) as number) : p - (phases[i - 1] as number);
    if (gap > widest) {
      widest = gap;
      phase = p;
    }
  });
  const lateness = (at: number) => (((at - first - phase) % period) + period) % period;
  const out = {} as Record<Workflow, Lateness>;
  for (const w of WORKFLOWS) {
    const late: number[] = [];
    let missed = 0;
    for (const t of plan) {
      if (t.workflow !== w) continue;
      const mine = up.filter((e) => e.at >= t.startAt && e.at < t.startAt + traceMs);
      mine.forEach((e, i) => {
        late.push(lateness(e.at));
        if (i > 0) missed += Math.max(0, Math.round((e.at - (mine[i - 1] as WireEvent).at) / period) - 1);
      });
    }
    late.sort((a, b) => a - b);
    out[w] = { frames: late.length, p50: pct(late, 0.5), p99: pct(late, 0.99), max: late.at(-1) ?? 0, missed };
  }
  return out;
}
