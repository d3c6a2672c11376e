import { chmodSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { StoreError } from "./errors.js";

/** SKYTALE_DATA_DIR when set, else ~/.skytale/<identity>. */
export function resolveDataDir(identity: string, env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.SKYTALE_DATA_DIR?.trim();
  return configured ? configured : join(homedir(), ".skytale", identity);
}

/** Creates the data dir (and parents) and makes it private to this user (0700). */
export function ensurePrivateDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    chmodSync(dir, 0o700);
  } catch (cause) {
    throw new StoreError("io", `cannot create data dir ${dir}: ${(cause as Error).message}`, { cause });
  }
}
