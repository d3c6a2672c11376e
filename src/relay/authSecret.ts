import { readFileSync } from "node:fs";

/**
 * The relay's token secret. Whoever guesses it mints tokens for any name, so it must be random and
 * long: at least 32 characters carrying an estimated 128 bits (`openssl rand -hex 32` gives 256).
 * The estimate is the smaller of two: length × log2 of the alphabet its character classes span,
 * and length × the Shannon entropy of its own character frequencies, which sees repetition
 * (abcdabcd…, password1234password…). Both overrate a chosen password; neither underrates the
 * output of `openssl rand` by much. Fewer than 8 distinct characters is refused whatever the length.
 */
export const MIN_SECRET_CHARS = 32;
const MIN_SECRET_BITS = 128;
const MIN_DISTINCT = 8;
export const SECRET_ADVICE = "use at least 32 random characters, e.g. the output of `openssl rand -hex 32`";

/** Why `secret` is too weak to sign tokens, or undefined if it is strong enough. */
export function secretWeakness(secret: string): string | undefined {
  if (secret.length < MIN_SECRET_CHARS) return `it has ${secret.length} characters`;
  if (new Set(secret).size < MIN_DISTINCT) return "it repeats a few characters";
  const classes = [/[0-9]/, /[a-z]/, /[A-Z]/, /[^0-9a-zA-Z]/];
  const sizes = [10, 26, 26, 33];
  const alphabet = classes.reduce((sum, pattern, i) => (pattern.test(secret) ? sum + (sizes[i] as number) : sum), 0);
  const bits = Math.min(secret.length * Math.log2(alphabet), secret.length * shannonBitsPerChar(secret));
  return bits < MIN_SECRET_BITS ? `it carries about ${Math.floor(bits)} bits` : undefined;
}

function shannonBitsPerChar(text: string): number {
  const counts = new Map<string, number>();
  for (const c of text) counts.set(c, (counts.get(c) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / text.length) * Math.log2(n / text.length);
  return bits;
}

/**
 * A secret from a file (its first line; the file is the operator's to keep at 0600). Kept out of
 * argv, where every user of the machine reads it with `ps`.
 */
export function readSecretFile(path: string): string {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read the secret file ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const secret = text.split(/\r?\n/)[0]?.trim() ?? "";
  if (secret === "") throw new Error(`the secret file ${path} is empty`);
  return secret;
}
