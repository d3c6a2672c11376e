import { describe, expect, it } from "vitest";
import { balancedActiveIdle } from "../../analysis/attack.js";
import { crossValidate, stratifiedFolds } from "../../analysis/crossValidation.js";
import { mulberry32 } from "../../analysis/prng.js";
import { RandomForest } from "../../analysis/randomForest.js";
import { WORKFLOWS, type Workflow } from "../../analysis/workflows.js";

/** n rows of d noise features; `signal` may overwrite some of them from the label. */
function dataset(n: number, d: number, classes: number, seed: number, signal: (row: number[], label: number, random: () => number) => void) {
  const random = mulberry32(seed);
  const x: number[][] = [];
  const y: number[] = [];
  for (let i = 0; i < n; i++) {
    const label = i % classes;
    const row = Array.from({ length: d }, () => random());
    signal(row, label, random);
    x.push(row);
    y.push(label);
  }
  return { x, y };
}

describe("the attacker's random forest", () => {
  it("learns classes that two of forty features tell apart", () => {
    const { x, y } = dataset(200, 40, 5, 1, (row, label, random) => {
      row[7] = label + 0.5 * random();
      row[23] = -label + 0.5 * random();
    });
    const cv = crossValidate(x, y, 5, 5, { trees: 50, seed: 3 });
    expect(cv.accuracy).toBeGreaterThan(0.9);
    // The importance goes to the two features that carry the label.
    const top = [...cv.importance.keys()].sort((a, b) => cv.importance[b]! - cv.importance[a]!).slice(0, 2);
    expect(top.sort((a, b) => a - b)).toEqual([7, 23]);
  });

  it("learns an interaction no single feature shows (XOR), which a linear model cannot", () => {
    const { x, y } = dataset(300, 4, 2, 2, (row, label, random) => {
      const a = random() < 0.5 ? 0 : 1;
      row[0] = a + 0.3 * random();
      row[1] = (a ^ label) + 0.3 * random();
    });
    expect(crossValidate(x, y, 2, 5, { trees: 100, seed: 5 }).accuracy).toBeGreaterThan(0.9);
  });

  it("stays near chance on labels the features know nothing about, with chance inside its interval", () => {
    const { x, y } = dataset(250, 30, 5, 4, () => undefined);
    const cv = crossValidate(x, y, 5, 5, { trees: 50, seed: 7 });
    expect(cv.accuracy).toBeLessThan(0.35);
    expect(cv.low).toBeLessThan(0.2);
    expect(cv.high).toBeGreaterThan(0.2);
    expect(cv.trainSize).toBe(200);
    expect(cv.confusion.flat().reduce((a, b) => a + b, 0)).toBe(250);
  });

  it("is deterministic for a seed, and refuses labels out of range", () => {
    const { x, y } = dataset(60, 8, 3, 9, (row, label) => (row[0] = label));
    const a = RandomForest.train(x, y, 3, { trees: 20, seed: 11 });
    const b = RandomForest.train(x, y, 3, { trees: 20, seed: 11 });
    const probe = x.map((row) => row.map((v) => v + 0.01));
    expect(probe.map((r) => a.predictProba(r))).toEqual(probe.map((r) => b.predictProba(r)));
    expect(() => RandomForest.train(x, y.map((c) => c + 1), 3, { trees: 1, seed: 1 })).toThrow(RangeError);
  });

  it("splits each class evenly over the folds", () => {
    const y = Array.from({ length: 53 }, (_, i) => i % 4);
    const folds = stratifiedFolds(y, 5, 1);
    for (let c = 0; c < 4; c++) {
      const per = [0, 1, 2, 3, 4].map((f) => folds.filter((g, i) => g === f && y[i] === c).length);
      expect(Math.max(...per) - Math.min(...per)).toBeLessThanOrEqual(1);
    }
  });

  it("balances active against idle traces, drawing active ones from every active workflow", () => {
    const plan: Workflow[] = Array.from({ length: 50 }, (_, i) => WORKFLOWS[i % 5] as Workflow);
    const pairs = balancedActiveIdle(plan, 3);
    const active = pairs.filter((p) => p.active);
    expect(active).toHaveLength(10);
    expect(pairs.filter((p) => !p.active).every((p) => plan[p.index] === "idle")).toBe(true);
    expect(new Set(active.map((p) => plan[p.index])).size).toBe(4);
    expect(active.every((p) => plan[p.index] !== "idle")).toBe(true);
  });
});
