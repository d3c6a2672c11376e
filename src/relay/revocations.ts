import { appendFileSync, readFileSync, unwatchFile, watchFile } from "node:fs";
import type { TokenClaims } from "./token.js";

/**
 * Revoked tokens, from a text file the operator keeps (and copies to every node of a cluster):
 *
 *   id <token id>              that one token
 *   sub <name> <unix seconds>  every token for that name issued before that time (a token
 *                              minted in the same second as the revocation stays good)
 *
 * Blank lines and lines starting with '#' are ignored. `skytale-mcp revoke` appends lines. The
 * relay reads the file on start and again whenever it changes, and drops links whose token it
 * now revokes; an unreadable or malformed file keeps the previous list and is reported, so a
 * half-written edit never lets a revoked token back in.
 */
export interface RevocationList {
  readonly ids: ReadonlySet<string>;
  /** Name → tokens issued before this time (unix seconds) are revoked. */
  readonly subjects: ReadonlyMap<string, number>;
}

const EMPTY: RevocationList = { ids: new Set(), subjects: new Map() };
/** How often the file's mtime is looked at; fs.watch misses edits made by rename on some systems. */
const POLL_MS = 1000;
const MAX_FILE_BYTES = 16 * 1024 * 1024;

export class RevocationError extends Error {
  override readonly name = "RevocationError";
}

/** Parses a revocation file's text; throws RevocationError naming the first bad line. */
export function parseRevocations(text: string): RevocationList {
  const ids = new Set<string>();
  const subjects = new Map<string, number>();
  text.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) return;
    const [kind, value, before, ...rest] = line.split(/\s+/);
    if (kind === "id" && value !== undefined && before === undefined) {
      ids.add(value);
    } else if (kind === "sub" && value !== undefined && before !== undefined && rest.length === 0 && /^\d+$/.test(before)) {
      subjects.set(value, Math.max(subjects.get(value) ?? 0, Number(before)));
    } else {
      throw new RevocationError(`line ${index + 1} is neither 'id <token id>' nor 'sub <name> <unix seconds>'`);
    }
  });
  return { ids, subjects };
}

/** Whether `list` revokes the token with these claims. */
export function isRevoked(list: RevocationList, claims: TokenClaims): boolean {
  if (claims.id !== undefined && list.ids.has(claims.id)) return true;
  const before = list.subjects.get(claims.sub);
  return before !== undefined && claims.iat < before;
}

/** One line for the file: `id` revokes a token, `sub` every token of a name issued before now. */
export function revocationLine(what: { id: string } | { sub: string; nowSeconds: number }): string {
  if ("id" in what) {
    if (!/^[A-Za-z0-9_-]+$/.test(what.id)) throw new RevocationError(`'${what.id}' is not a token id (base64url)`);
    return `id ${what.id}`;
  }
  if (/\s/.test(what.sub) || what.sub === "") throw new RevocationError(`'${what.sub}' is not an agent name`);
  return `sub ${what.sub} ${Math.floor(what.nowSeconds)}`;
}

/** Appends a revocation to `path` (created 0600 if missing). */
export function appendRevocation(path: string, line: string): void {
  appendFileSync(path, `${line}\n`, { mode: 0o600 });
}

/** The relay's view of the file, reloaded when it changes. */
export class Revocations {
  private list: RevocationList = EMPTY;

  private constructor(
    private readonly path: string | undefined,
    private readonly report: (line: string) => void,
  ) {}

  /** Reads `path` (throws RevocationError if it cannot) and, if `onChange` is given, watches it. */
  static open(path: string | undefined, report: (line: string) => void, onChange?: () => void): Revocations {
    const revocations = new Revocations(path, report);
    if (path === undefined) return revocations;
    revocations.list = revocations.read(path);
    if (onChange !== undefined) {
      watchFile(path, { interval: POLL_MS, persistent: false }, () => {
        if (revocations.reload()) onChange();
      });
    }
    return revocations;
  }

  revokes(claims: TokenClaims): boolean {
    return isRevoked(this.list, claims);
  }

  /** Reads the file again; false (the old list kept, the problem reported) if it cannot be used. */
  reload(): boolean {
    if (this.path === undefined) return false;
    try {
      this.list = this.read(this.path);
      return true;
    } catch (error) {
      this.report(`revocations: ${(error as Error).message}; the previous list stays in force`);
      return false;
    }
  }

  close(): void {
    if (this.path !== undefined) unwatchFile(this.path);
  }

  private read(path: string): RevocationList {
    let text: string;
    try {
      text = readFileSync(path, "utf8");
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === "ENOENT") return EMPTY; // nothing revoked yet: `skytale-mcp revoke` creates it
      throw new RevocationError(`cannot read ${path}: ${code ?? (error as Error).message}`);
    }
    if (text.length > MAX_FILE_BYTES) throw new RevocationError(`${path} is larger than ${MAX_FILE_BYTES} bytes`);
    try {
      return parseRevocations(text);
    } catch (error) {
      throw new RevocationError(`${path}: ${(error as Error).message}`);
    }
  }
}
