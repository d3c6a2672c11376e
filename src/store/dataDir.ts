import { accessSync, chmodSync, constants, existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { storeFailure } from "./errors.js";

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
    throw storeFailure(whyNotWritable(dir) ?? cause, `create the data dir ${dir}`);
  }
}

/**
 * The real reason a dir cannot be made: a recursive mkdir on a read-only file system reports
 * ENOENT, while access(2) on the nearest existing ancestor reports EROFS (even for root).
 */
function whyNotWritable(dir: string): unknown {
  let existing = dir;
  while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
  try {
    accessSync(existing, constants.W_OK);
    return undefined;
  } catch (error) {
    return error;
  }
}
