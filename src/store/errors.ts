/** Stable codes for storage failures. */
export type StoreErrorCode =
  | "wrong_key" // the passphrase or key file does not open this data dir
  | "corrupt" // the database file is damaged, a sealed value failed authentication, or the schema is unknown
  | "locked" // another process has this data dir open
  | "conflict" // a change refers to something already used up (a key package)
  | "full" // the disk (or the quota) holding the data dir is full
  | "read_only" // the data dir or its file system cannot be written
  | "io"; // any other failure to create, read or write the data dir

/** A storage failure; messages name paths and causes, never keys or contents. */
export class StoreError extends Error {
  override readonly name = "StoreError";
  constructor(
    readonly code: StoreErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

// SQLite's extended result codes (SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED, ...) share the
// primary code's prefix; node's own errno codes come from the fs calls around the database.
const CAUSES: readonly [prefix: string, code: StoreErrorCode, advice: string][] = [
  ["SQLITE_FULL", "full", "the disk holding the data dir is full: free some space and retry"],
  ["ENOSPC", "full", "the disk holding the data dir is full: free some space and retry"],
  ["EDQUOT", "full", "the disk quota for the data dir is used up: free some space and retry"],
  ["SQLITE_READONLY", "read_only", "the data dir cannot be written: make it writable and retry"],
  ["EROFS", "read_only", "the data dir is on a read-only file system: make it writable and retry"],
  ["EACCES", "read_only", "the data dir cannot be written: make it writable and retry"],
  ["EPERM", "read_only", "the data dir cannot be written: make it writable and retry"],
  ["SQLITE_CORRUPT", "corrupt", "the database file is damaged: restore it from a backup or move the data dir away to start afresh"],
  ["SQLITE_NOTADB", "corrupt", "the file is not a skytale database: restore it from a backup or move the data dir away to start afresh"],
  ["SQLITE_BUSY", "locked", "another process is using the data dir (one skytale-mcp process per agent)"],
];

/**
 * The StoreError for a failure of SQLite or the file system while `doing` something: a code the
 * caller can act on and a sentence saying what to do. Only the error code is looked at, so no row
 * contents can leak into the message.
 */
export function storeFailure(cause: unknown, doing: string): StoreError {
  if (cause instanceof StoreError) return cause;
  const errno = String((cause as { code?: unknown } | undefined)?.code ?? "");
  const known = CAUSES.find(([prefix]) => errno.startsWith(prefix));
  if (known !== undefined) return new StoreError(known[1], `cannot ${doing}: ${known[2]} (${errno})`, { cause });
  return new StoreError("io", `cannot ${doing}: ${errno || (cause as Error).message}`, { cause });
}

/** Runs one storage step, turning whatever SQLite or the file system throws into a StoreError. */
export function guarded<T>(doing: string, step: () => T): T {
  try {
    return step();
  } catch (cause) {
    throw storeFailure(cause, doing);
  }
}
