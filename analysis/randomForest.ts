// A random forest classifier as Breiman (2001) and scikit-learn's RandomForestClassifier build it,
// the classifier of k-fingerprinting: bootstrap samples, CART trees grown to pure leaves on Gini
// impurity, a fresh random subset of sqrt(d) features at every split, class probabilities averaged
// over the trees. Seeded, so the same data gives the same forest. (The npm package ml-random-forest
// draws one feature subset per tree, a weaker attacker; this is the standard one.)
import { mulberry32 } from "./prng.js";

export interface ForestOptions {
  readonly trees: number;
  readonly seed: number;
  /** Features tried at each split; default floor(sqrt(d)). */
  readonly featuresPerSplit?: number;
  /** Fewest samples in a leaf; default 1. */
  readonly minLeaf?: number;
}

/** A tree in flat arrays: an inner node splits on `feature` at `threshold`; a leaf (feature -1) holds class shares. */
interface Tree {
  readonly feature: number[];
  readonly threshold: number[];
  readonly left: number[];
  readonly right: number[];
  readonly leaf: (Float64Array | undefined)[];
}

function gini(counts: Float64Array, n: number): number {
  if (n === 0) return 0;
  let s = 0;
  for (const c of counts) s += c * c;
  return 1 - s / (n * n);
}

export class RandomForest {
  private constructor(
    private readonly trees: Tree[],
    readonly classes: number,
    /** Mean decrease in Gini impurity per feature, summing to 1. */
    readonly importance: Float64Array,
  ) {}

  /** Trains on rows `x` (all the same length) with labels `y` in 0..classes-1. */
  static train(x: readonly (readonly number[])[], y: readonly number[], classes: number, options: ForestOptions): RandomForest {
    const n = x.length;
    const d = x[0]?.length ?? 0;
    if (n === 0 || y.length !== n) throw new RangeError("need as many labels as rows, and at least one row");
    if (y.some((c) => !Number.isInteger(c) || c < 0 || c >= classes)) throw new RangeError(`labels must be integers 0-${classes - 1}`);
    // Column-major copy: a split scans one feature over a node's samples.
    const columns = Array.from({ length: d }, (_, f) => Float64Array.from(x, (row) => row[f] as number));
    const random = mulberry32(options.seed);
    const m = Math.max(1, Math.min(d, options.featuresPerSplit ?? Math.floor(Math.sqrt(d))));
    const minLeaf = options.minLeaf ?? 1;
    const importance = new Float64Array(d);
    const trees: Tree[] = [];
    for (let t = 0; t < options.trees; t++) {
      const sample = Uint32Array.from({ length: n }, () => Math.floor(random() * n));
      trees.push(growTree(columns, y, classes, sample, m, minLeaf, random, importance));
    }
    const total = importance.reduce((a, b) => a + b, 0);
    if (total > 0) for (let f = 0; f < d; f++) importance[f]! /= total;
    return new RandomForest(trees, classes, importance);
  }

  /** Class probabilities for one row: the mean of the trees' leaf shares. */
  predictProba(row: readonly number[]): number[] {
    const p = new Array<number>(this.classes).fill(0);
    for (const tree of this.trees) {
      let node = 0;
      while (tree.feature[node]! >= 0) node = (row[tree.feature[node]!] as number) <= tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
      const shares = tree.leaf[node] as Float64Array;
      for (let c = 0; c < this.classes; c++) p[c]! += shares[c]! / this.trees.length;
    }
    return p;
  }

  /** The most probable class (the lowest index on a tie). */
  predict(row: readonly number[]): number {
    const p = this.predictProba(row);
    return p.indexOf(Math.max(...p));
  }
}

function growTree(
  columns: readonly Float64Array[],
  y: readonly number[],
  classes: number,
  sample: Uint32Array,
  m: number,
  minLeaf: number,
  random: () => number,
  importance: Float64Array,
): Tree {
  const tree: Tree = { feature: [], threshold: [], left: [], right: [], leaf: [] };
  const d = columns.length;
  const features = Uint32Array.from({ length: d }, (_, i) => i);
  const total = sample.length;
  const grow = (rows: Uint32Array): number => {
    const node = tree.feature.length;
    tree.feature.push(-1);
    tree.threshold.push(0);
    tree.left.push(-1);
    tree.right.push(-1);
    tree.leaf.push(undefined);
    const counts = new Float64Array(classes);
    for (const r of rows) counts[y[r] as number]!++;
    const impurity = gini(counts, rows.length);
    const split = impurity > 0 && rows.length >= 2 * minLeaf ? bestSplit(rows, counts, impurity) : undefined;
    const column = split === undefined ? undefined : (columns[split.feature] as Float64Array);
    const left = split === undefined ? rows : rows.filter((r) => column![r]! <= split.threshold);
    const right = split === undefined ? rows : rows.filter((r) => column![r]! > split.threshold);
    // A midpoint that rounds onto one of its neighbours leaves a side empty: a leaf, not a loop.
    if (split === undefined || left.length === 0 || right.length === 0) {
      tree.leaf[node] = counts.map((c) => c / rows.length);
      return node;
    }
    importance[split.feature]! += (rows.length / total) * split.gain;
    tree.feature[node] = split.feature;
    tree.threshold[node] = split.threshold;
    tree.left[node] = grow(left);
    tree.right[node] = grow(right);
    return node;
  };

  /**
   * The split of `rows` with the largest impurity decrease over a random subset of m features; as
   * in scikit-learn, features constant on these rows do not count towards m, so a split is found
   * whenever one exists.
   */
  const bestSplit = (rows: Uint32Array, counts: Float64Array, impurity: number): { feature: number; threshold: number; gain: number } | undefined => {
    let best: { feature: number; threshold: number; gain: number } | undefined;
    let tried = 0;
    const n = rows.length;
    const leftCounts = new Float64Array(classes);
    for (let i = 0; i < d && tried < m; i++) {
      // Partial Fisher-Yates: the next feature in a random order without repeats.
      const j = i + Math.floor(random() * (d - i));
      const f = features[j] as number;
      features[j] = features[i] as number;
      features[i] = f;
      const column = columns[f] as Float64Array;
      const order = Array.from(rows).sort((a, b) => column[a]! - column[b]!);
      if (column[order[0] as number] === column[order[n - 1] as number]) continue;
      tried++;
      leftCounts.fill(0);
      for (let k = 0; k < n - 1; k++) {
        const r = order[k] as number;
        leftCounts[y[r] as number]!++;
        const here = column[r]!;
        const next = column[order[k + 1] as number]!;
        if (here === next || k + 1 < minLeaf || n - k - 1 < minLeaf) continue;
        let rightImpurity = 0;
        let s = 0;
        for (let c = 0; c < classes; c++) {
          const rc = counts[c]! - leftCounts[c]!;
          s += rc * rc;
        }
        rightImpurity = 1 - s / ((n - k - 1) * (n - k - 1));
        const gain = impurity - ((k + 1) / n) * gini(leftCounts, k + 1) - ((n - k - 1) / n) * rightImpurity;
        if (best === undefined || gain > best.gain) best = { feature: f, threshold: (here + next) / 2, gain };
      }
    }
    return best !== undefined && best.gain > 0 ? best : undefined;
  };
  grow(sample);
  return tree;
}
