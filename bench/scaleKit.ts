// Shared by the scale benchmarks (fan-out, group operations, channels, wire overhead): seeded
// randomness, filler members, percentiles and markdown tables.
import { createHash } from "node:crypto";
import type { CiphersuiteImpl } from "ts-mls";
import { createKeyPackage, type FreshKeyPackage } from "../src/mls/keyPackages.js";

export const quick = process.env.BENCH_QUICK === "1";

/** A small seeded PRNG (mulberry32): the same seed gives the same message mix on every run. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic bytes from a label (payload contents; never key material). */
export function filler(label: string, length: number): Uint8Array {
  const out = new Uint8Array(length);
  let block = createHash("sha256").update(label).digest();
  for (let i = 0; i < length; i += 32) {
    out.set(block.subarray(0, Math.min(32, length - i)), i);
    block = createHash("sha256").update(block).digest();
  }
  return out;
}

/** Key packages of `count` members named `${prefix}${i}`, each with its own identity key. */
export async function memberKeyPackages(cs: CiphersuiteImpl, prefix: string, count: number): Promise<FreshKeyPackage[]> {
  const now = Math.floor(Date.now() / 1000);
  const out: FreshKeyPackage[] = [];
  for (let i = 0; i < count; i++) {
    const keys = await cs.signature.keygen();
    out.push(await createKeyPackage({ name: `${prefix}${i}`, signaturePublicKey: keys.publicKey, signaturePrivateKey: keys.signKey }, cs, now));
  }
  return out;
}

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

export function table(rows: readonly Record<string, string>[]): string {
  const headers = Object.keys(rows[0]!);
  return [
    `| ${headers.join(" | ")} |`,
    `|${headers.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${headers.map((h) => r[h] ?? "").join(" | ")} |`),
  ].join("\n");
}

export function mib(bytes: number): string {
  return (bytes / 2 ** 20).toFixed(1);
}

/**
 * Ends the benchmark with an error if it runs past `minutes`: a script that hangs (once seen on
 * this loaded machine, cause not found) must not hold up `npm run bench` forever.
 */
export function exitIfStuck(label: string, minutes: number): void {
  setTimeout(() => {
    process.stderr.write(`${label}: still running after ${minutes} minutes; giving up\n`);
    process.exit(1);
  }, minutes * 60_000).unref();
}
