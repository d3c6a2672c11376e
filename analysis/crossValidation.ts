// Stratified k-fold cross-validation of the random forest: every trace is predicted once, by a
// forest that never saw it; accuracy over all of them with a 95% Wilson interval.
import { mulberry32, shuffled } from "./prng.js";
import { RandomForest, type ForestOptions } from "./randomForest.js";
import { wilson } from "./stats.js";

export interface CvResult {
  readonly correct: number;
  readonly n: number;
  readonly accuracy: number;
  readonly low: number;
  readonly high: number;
  /** Traces each training fold held (the training set size). */
  readonly trainSize: number;
  /** confusion[truth][predicted]. */
  readonly confusion: number[][];
  /** Mean decrease in impurity per feature, averaged over the folds. */
  readonly importance: number[];
}

/** Fold of each sample: each class spread evenly over the k folds, in a seeded random order. */
export function stratifiedFolds(y: readonly number[], k: number, seed: number): number[] {
  const random = mulberry32(seed);
  const fold = new Array<number>(y.length).fill(0);
  let next = 0;
  for (const c of [...new Set(y)].sort((a, b) => a - b)) {
    for (const i of shuffled(
      y.flatMap((label, i) => (label === c ? [i] : [])),
      random,
    )) {
      fold[i] = next;
      next = (next + 1) % k;
    }
  }
  return fold;
}

export function crossValidate(x: readonly (readonly number[])[], y: readonly number[], classes: number, k: number, options: ForestOptions): CvResult {
  const folds = stratifiedFolds(y, k, options.seed);
  const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  const importance = new Array<number>(x[0]?.length ?? 0).fill(0);
  let correct = 0;
  let trainSize = 0;
  for (let f = 0; f < k; f++) {
    const train = folds.flatMap((g, i) => (g === f ? [] : [i]));
    trainSize = Math.max(trainSize, train.length);
    const forest = RandomForest.train(
      train.map((i) => x[i] as number[]),
      train.map((i) => y[i] as number),
      classes,
      { ...options, seed: options.seed + f },
    );
    forest.importance.forEach((v, j) => (importance[j]! += v / k));
    folds.forEach((g, i) => {
      if (g !== f) return;
      const predicted = forest.predict(x[i] as number[]);
      confusion[y[i] as number]![predicted]!++;
      if (predicted === y[i]) correct++;
    });
  }
  return { correct, n: y.length, accuracy: correct / y.length, ...wilson(correct, y.length), trainSize, confusion, importance };
}
