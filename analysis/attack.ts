// The attack on one capture: features of every trace, then the random forest on two tasks (which
// of the five workflows; active or idle), cross-validated.
import { crossValidate, type CvResult } from "./crossValidation.js";
import { traceFeatures } from "./features.js";
import { mulberry32, shuffled } from "./prng.js";
import type { Capture } from "./session.js";
import { WORKFLOWS, type Workflow } from "./workflows.js";

export interface AttackOptions {
  readonly trees: number;
  readonly folds: number;
  readonly seed: number;
}

export interface AttackResult {
  readonly names: string[];
  readonly workflows: CvResult;
  readonly activeIdle: CvResult;
}

/**
 * The active-vs-idle task on balanced classes: every idle trace, and as many active ones, drawn
 * in turn from each active workflow (seeded), so that chance is 50%.
 */
export function balancedActiveIdle(workflows: readonly Workflow[], seed: number): { index: number; active: boolean }[] {
  const random = mulberry32(seed);
  const idle = workflows.flatMap((w, i) => (w === "idle" ? [i] : []));
  const pools = WORKFLOWS.filter((w) => w !== "idle").map((w) =>
    shuffled(
      workflows.flatMap((v, i) => (v === w ? [i] : [])),
      random,
    ),
  );
  const active: number[] = [];
  for (let round = 0; active.length < idle.length && pools.some((p) => p.length > round); round++) {
    for (const pool of pools) if (active.length < idle.length && round < pool.length) active.push(pool[round] as number);
  }
  return [...idle.map((index) => ({ index, active: false })), ...active.map((index) => ({ index, active: true }))];
}

export function attack(capture: Capture, o: AttackOptions): AttackResult {
  const events = [...capture.events].sort((a, b) => a.at - b.at);
  const vectors = capture.plan.map((t) => traceFeatures(events, t.startAt, capture.traceMs));
  const names = vectors[0]?.names ?? [];
  const x = vectors.map((v) => v.values);
  const options = { trees: o.trees, seed: o.seed };
  const workflows = crossValidate(
    x,
    capture.plan.map((t) => WORKFLOWS.indexOf(t.workflow)),
    WORKFLOWS.length,
    o.folds,
    options,
  );
  const pairs = balancedActiveIdle(
    capture.plan.map((t) => t.workflow),
    o.seed,
  );
  const activeIdle = crossValidate(
    pairs.map((p) => x[p.index] as number[]),
    pairs.map((p) => (p.active ? 1 : 0)),
    2,
    o.folds,
    options,
  );
  return { names, workflows, activeIdle };
}
