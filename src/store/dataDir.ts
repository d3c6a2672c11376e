import { accessSync, chmodSync, constants, existsSync, mkdirSync } from "node:fs";
import { homedir } from "node:os";
import { dirname, join } from "node:path";
import { storeFailure } from "./errors.js";

/** The local relay's dir inside a data dir configured alone (without SKYTALE_HOME). */
export const LOCAL_RELAY_SUBDIR = "local-relay";

/** SKYTALE_HOME when set, else ~/.skytale: the root of every default path below. */
export function skytaleHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.SKYTALE_HOME?.trim() || join(homedir(), ".skytale");
}

/** SKYTALE_DATA_DIR when set, else <SKYTALE_HOME>/<identity>. */
export function resolveDataDir(identity: string, env: NodeJS.ProcessEnv = process.env): string {
  const configured = env.SKYTALE_DATA_DIR?.trim();
  return configured ? configured : join(skytaleHome(env), identity);
}

/**
 * Where the shared local relay keeps its key and archive. Agents that take it over from one another
 * must agree on it, so it follows the shared root: <SKYTALE_HOME>/relay, the default layout's
 * ~/.skytale/relay. An agent given only its own data dir (`dataDir`, or SKYTALE_DATA_DIR) keeps it
 * inside that dir, so that nothing is written anywhere else.
 */
export function resolveLocalRelayDir(dataDir: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  if (env.SKYTALE_HOME?.trim()) return join(skytaleHome(env), "relay");
  const own = dataDir ?? env.SKYTALE_DATA_DIR?.trim();
  return own ? join(own, LOCAL_RELAY_SUBDIR) : join(skytaleHome(env), "relay");
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
