// The adversary: logistic regression by gradient descent on standardised features, k-fold CV.
import { mulberry32, shuffled } from "./prng.js";

export interface Sample {
  readonly features: readonly number[];
  /** 1 = active window, 0 = idle window. */
  readonly label: 0 | 1;
}

interface Model {
  readonly mu: number[];
  readonly sigma: number[];
  readonly w: number[];
  readonly b: number;
}

const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));

function standardise(x: readonly number[], mu: readonly number[], sigma: readonly number[]): number[] {
  return x.map((v, j) => (v - (mu[j] as number)) / (sigma[j] as number));
}

/** Full-batch gradient descent on the mean log-loss plus a small L2 penalty. */
export function train(samples: readonly Sample[], epochs = 2000, rate = 0.1, l2 = 1e-3): Model {
  const d = samples[0]?.features.length ?? 0;
  const mu = new Array<number>(d).fill(0);
  const sigma = new Array<number>(d).fill(0);
  for (const s of samples) s.features.forEach((v, j) => (mu[j]! += v / samples.length));
  for (const s of samples) s.features.forEach((v, j) => (sigma[j]! += (v - mu[j]!) ** 2 / samples.length));
  for (let j = 0; j < d; j++) sigma[j] = Math.sqrt(sigma[j]!) || 1; // constant feature: leave it at 0
  const xs = samples.map((s) => standardise(s.features, mu, sigma));
  const w = new Array<number>(d).fill(0);
  let b = 0;
  for (let e = 0; e < epochs; e++) {
    const gw = w.map((wj) => l2 * wj);
    let gb = 0;
    xs.forEach((x, i) => {
      const err = sigmoid(x.reduce((z, v, j) => z + v * w[j]!, b)) - samples[i]!.label;
      for (let j = 0; j < d; j++) gw[j]! += (err * x[j]!) / xs.length;
      gb += err / xs.length;
    });
    for (let j = 0; j < d; j++) w[j]! -= rate * gw[j]!;
    b -= rate * gb;
  }
  return { mu, sigma, w, b };
}

export function predict(model: Model, features: readonly number[]): 0 | 1 {
  const x = standardise(features, model.mu, model.sigma);
  return sigmoid(x.reduce((z, v, j) => z + v * model.w[j]!, model.b)) >= 0.5 ? 1 : 0;
}

/** k-fold cross-validation with a seeded shuffle; returns how many held-out predictions were right. */
export function crossValidate(samples: readonly Sample[], k = 5, seed = 1): { correct: number; n: number } {
  const order = shuffled(
    samples.map((_, i) => i),
    mulberry32(seed),
  );
  let correct = 0;
  for (let f = 0; f < k; f++) {
    const test = order.filter((_, i) => i % k === f);
    const trainSet = order.filter((_, i) => i % k !== f).map((i) => samples[i]!);
    const model = train(trainSet);
    for (const i of test) if (predict(model, samples[i]!.features) === samples[i]!.label) correct++;
  }
  return { correct, n: samples.length };
}
