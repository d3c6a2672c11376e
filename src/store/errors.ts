/** Stable codes for storage failures. */
export type StoreErrorCode =
  | "wrong_key" // the passphrase or key file does not open this data dir
  | "corrupt" // a sealed value failed authentication or the schema is unknown
  | "locked" // another process has this data dir open
  | "conflict" // a change refers to something already used up (a key package)
  | "io"; // the data dir cannot be created, read or written

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
