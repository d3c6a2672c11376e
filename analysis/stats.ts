// Statistics used by the traffic analysis: chi-square tests with p-values, Wilson intervals.

/** ln Γ(x), Lanczos approximation (g = 7, n = 9). */
function lnGamma(x: number): number {
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const z = x - 1;
  let s = c[0] as number;
  for (let i = 1; i < 9; i++) s += (c[i] as number) / (z + i);
  const t = z + 7.5;
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(s);
}

/** Upper regularised incomplete gamma Q(a, x) (series below a + 1, continued fraction above). */
export function gammaQ(a: number, x: number): number {
  if (x <= 0) return 1;
  const gln = lnGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 10_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return 1 - sum * Math.exp(-x + a * Math.log(x) - gln);
  }
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 10_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-15) break;
  }
  return Math.exp(-x + a * Math.log(x) - gln) * h;
}

/** P(χ²_df ≥ stat). */
export function chiSquarePValue(stat: number, df: number): number {
  return gammaQ(df / 2, stat / 2);
}

export function byteHistogram(chunks: readonly Uint8Array[]): number[] {
  const counts = new Array<number>(256).fill(0);
  for (const c of chunks) for (const b of c) counts[b]!++;
  return counts;
}

export interface ChiSquareResult {
  readonly stat: number;
  readonly df: number;
  readonly p: number;
  readonly n: number;
}

/** Goodness of fit of a byte histogram against uniform (255 df). */
export function chiSquareUniform(counts: readonly number[]): ChiSquareResult {
  const n = counts.reduce((a, b) => a + b, 0);
  const expected = n / counts.length;
  const stat = counts.reduce((s, c) => s + (c - expected) ** 2 / expected, 0);
  const df = counts.length - 1;
  return { stat, df, p: chiSquarePValue(stat, df), n };
}

/** Two-sample (homogeneity) chi-square on two histograms over the same categories. */
export function chiSquareTwoSample(a: readonly number[], b: readonly number[]): ChiSquareResult {
  const na = a.reduce((x, y) => x + y, 0);
  const nb = b.reduce((x, y) => x + y, 0);
  const n = na + nb;
  let stat = 0;
  let categories = 0;
  for (let i = 0; i < a.length; i++) {
    const col = (a[i] as number) + (b[i] as number);
    if (col === 0) continue;
    categories++;
    const ea = (na * col) / n;
    const eb = (nb * col) / n;
    stat += ((a[i] as number) - ea) ** 2 / ea + ((b[i] as number) - eb) ** 2 / eb;
  }
  const df = categories - 1;
  return { stat, df, p: chiSquarePValue(stat, df), n };
}

/** Wilson score interval for k successes out of n (z = 1.96 for 95%). */
export function wilson(k: number, n: number, z = 1.959964): { low: number; high: number } {
  if (n === 0) return { low: 0, high: 1 };
  const p = k / n;
  const denom = 1 + (z * z) / n;
  const centre = (p + (z * z) / (2 * n)) / denom;
  const half = (z * Math.sqrt((p * (1 - p)) / n + (z * z) / (4 * n * n))) / denom;
  return { low: Math.max(0, centre - half), high: Math.min(1, centre + half) };
}

export function mean(xs: readonly number[]): number {
  return xs.length === 0 ? 0 : xs.reduce((a, b) => a + b, 0) / xs.length;
}

export function variance(xs: readonly number[]): number {
  if (xs.length < 2) return 0;
  const m = mean(xs);
  return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
}
