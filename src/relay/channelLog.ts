import type { RelayThroughType } from "../wire/envelope.js";

/**
 * Storage behind the relay: the embedded SQLite archive (sqliteChannelLog.ts) or NATS JetStream
 * shared by many relay nodes (jetstream/). The sequencer's guarantees live here, behind one
 * asynchronous seam: compare-and-set on a channel's epoch inside one atomic append, dense seqs,
 * retries recognised, Welcomes delivered only for the commit that won, inboxes, the key-package
 * directory and the limits that must hold across nodes.
 *
 * Failures come in two kinds. A refusal is a result (stale, unauthorized, full): the request was
 * seen and answered. `StoreUnavailable` (or a write's `unavailable` result) means the store could
 * not be reached or could not keep the change: nothing the client could not find again on a retry
 * was changed, and the client should retry (the relay answers `internal`).
 */

/** What a channel archive holds. */
export type StoredKind = "Msg" | "GroupProposal" | "GroupCommit" | RelayThroughType;

/*
 * Agents are principals: the hex of their identity key, which their link proved (linkAuth.ts).
 * Inboxes, the key-package directory and the senders of frames are keyed by principal; names are
 * labels, bound to a principal by the name registry.
 */

/** An archived frame as its subscribers receive it. */
export interface ChannelFrame {
  readonly seq: bigint;
  readonly kind: StoredKind;
  /** The delivery envelope, encoded, with the seq as its id. Shared by every receiver: read only. */
  readonly envelope: Uint8Array;
}

/** An item of an agent's inbox. */
export interface InboxItem {
  readonly seq: bigint;
  /** An encoded envelope with id 0; the relay sets the id to `seq` when it delivers it. */
  readonly envelope: Uint8Array;
}

/**
 * How full an inbox may be for a relay-through item to go in. Its sender is stored with it, so
 * that one sender's flood fills only its own share of someone's inbox (Welcomes are stored
 * without a sender, and are bounded by the whole inbox only).
 */
export interface InboxBound {
  readonly maxItems: number;
  readonly sender?: { readonly principal: string; readonly maxItems: number };
}

export type InboxAppendResult = { readonly kind: "stored"; readonly seq: bigint } | { readonly kind: "full" } | { readonly kind: "sender_full" };

export type KeyPackagePublished = { readonly kind: "stored"; readonly held: number } | { readonly kind: "full" };

/** How many epochs an application message may be behind its channel's: members keep two past epochs' keys. */
export const MSG_EPOCH_SLACK = 2n;
/** Single-use key packages one principal may keep in the directory (the last-resort one not counted). */
export const MAX_KEY_PACKAGES = 100;

/** A commit's proof (wire/commitProof.ts), checked against the channel's stored key in the same atomic step. */
export interface CommitAuthorization {
  /** Whether the proof verifies under `key`, the channel's current commit key. */
  readonly verify: (key: Uint8Array) => boolean;
  /** The key that commits on the next epoch must be signed with. */
  readonly nextKey: Uint8Array;
}

/** The store cannot be reached or cannot keep this change now; retrying later can succeed. */
export class StoreUnavailable extends Error {
  override readonly name = "StoreUnavailable";
}

/**
 * A write that was not carried out: `unavailable` (retry), `too_large` (more than the store takes in
 * one message; refused for good), or `failed` (a bug while handling this one write).
 */
export type WriteFailure =
  | { readonly kind: "unavailable"; readonly reason: string }
  | { readonly kind: "too_large"; readonly reason: string }
  | { readonly kind: "failed"; readonly error: Error };

/** A frame for a channel nobody opened: the relay accepts nothing on a channel before its creator opens it. */
export type UnknownChannel = { readonly kind: "unknown" };

export type AppendResult = UnknownChannel | { readonly kind: "stored"; readonly seq: bigint; readonly duplicate: boolean };

export type MessageResult =
  | AppendResult
  /** Too old to be read by anyone: `epoch` is the channel's. */
  | { readonly kind: "stale"; readonly epoch: bigint }
  /** For an epoch the channel has not reached: no honest member built it. */
  | { readonly kind: "ahead"; readonly epoch: bigint };

/**
 * Opening a channel: `opened` the first time, `reopened` for the same creator again (a retry),
 * `taken` when the channel exists with another creator.
 */
export type OpenResult = "opened" | "reopened" | "taken";

export type HandshakeResult =
  | UnknownChannel
  | { readonly kind: "accepted"; readonly seq: bigint; readonly epoch: bigint; readonly duplicate: boolean }
  | { readonly kind: "stale"; readonly epoch: bigint; readonly winningSeq: bigint }
  /** The channel has a commit key and this commit is not signed by it. */
  | { readonly kind: "unauthorized" }
  /** A Welcome recipient's inbox holds `maxInboxItems` already: nothing was stored. */
  | { readonly kind: "inbox_full"; readonly recipient: string };

/** A winning commit's Welcome, put into each recipient's inbox once (and only if) the commit wins. */
export interface WelcomeWrite {
  readonly recipients: readonly string[];
  /** The GroupWelcome envelope (id 0), built from the commit's seq, which only the log knows. */
  readonly envelope: (commitSeq: bigint) => Uint8Array;
  readonly maxInboxItems: number;
}

interface WriteBase {
  readonly channel: Uint8Array;
  /** What is checked for retries (the MLS message, or a relay-through payload). */
  readonly body: Uint8Array;
  /** The authenticated principal that sent it. */
  readonly from: string;
  /**
   * The envelope subscribers will receive, encoded with id 0. The log writes the seq into it (in
   * place) once the frame has one, and hands these very bytes to every subscriber.
   */
  readonly delivery: Uint8Array;
}

export type ChannelWrite =
  /**
   * Opens a channel for its creator `from` (the caller checked the creator's signature): epoch 0,
   * whose commits must be signed with `commitKey`. Nothing else is archived on a channel before
   * (SQLite: channels archived before openings existed count as open, their first commit key
   * trusted on first use).
   */
  | {
      readonly op: "open";
      readonly channel: Uint8Array;
      readonly from: string;
      readonly commitKey: Uint8Array;
      readonly done: (result: OpenResult | WriteFailure) => void;
    }
  /** An application message: archived unless its `epoch` is more than MSG_EPOCH_SLACK behind the channel's, or ahead of it. */
  | (WriteBase & { readonly op: "message"; readonly epoch: bigint; readonly done: (result: MessageResult | WriteFailure) => void })
  /** A relay-through frame targeted at the channel: archived without checks. */
  | (WriteBase & { readonly op: "through"; readonly kind: RelayThroughType; readonly done: (result: AppendResult | WriteFailure) => void })
  /**
   * A proposal or commit, archived only if `epoch` is the channel's current epoch exactly. A
   * commit moves the channel to `epoch + 1` and, atomically with it, its Welcome goes to the
   * recipients' inboxes. Every commit needs an authorization that verifies under the channel's
   * commit key (from its opening, then named by the commit before). A repeated winner gets its
   * first result.
   */
  | (WriteBase & {
      readonly op: "handshake";
      readonly kind: "GroupProposal" | "GroupCommit";
      readonly epoch: bigint;
      readonly welcome: WelcomeWrite | undefined;
      readonly authorization: CommitAuthorization | undefined;
      readonly done: (result: HandshakeResult | WriteFailure) => void;
    });

/**
 * What the log tells the relay about frames and inbox items it did not hand back through a
 * write's `done`: those stored by other relay nodes, and every inbox item.
 */
export interface StoreListener {
  /** New frames of a watched channel, in seq order, each exactly once, never before an earlier one. */
  frames(channel: Uint8Array, frames: readonly ChannelFrame[]): void;
  /** A new item in `principal`'s inbox. */
  inbox(principal: string, item: InboxItem): void;
}

export interface StoreHealth {
  readonly ok: boolean;
  /** One line for /healthz, without secrets. */
  readonly detail: string;
}

export interface StoreStats {
  readonly channels: number;
  readonly archiveBytes: number;
}

export interface ChannelLog {
  /** Where the archive is, for the operator (no secrets). */
  readonly description: string;
  /**
   * Stores a batch of channel writes, as one unit where the store can (SQLite: one transaction;
   * JetStream: one record per channel, in order). Each write's `done` is called exactly once,
   * inside a `settle(run)` call (run calls the `done`s of the writes finished together). For a
   * channel, a write's `done` comes after every earlier frame of that channel was handed to its
   * `done` or to the listener, and before any later one: handlers may fan out from there.
   */
  write(batch: readonly ChannelWrite[], settle: (run: () => void) => void): void;
  /**
   * Frames with seq ≥ fromSeq, oldest first, at most `limit` of them and, past the first, of at
   * most `maxBytes` in all (fewer once the end is reached). What is read beyond that is not held.
   */
  read(channel: Uint8Array, fromSeq: bigint, limit: number, maxBytes?: number): Promise<ChannelFrame[]>;
  /**
   * Starts (or keeps) following a channel for the listener; resolves with its last seq. Every
   * frame after that seq reaches the listener (or a write's `done`) once the promise resolves.
   */
  watch(channel: Uint8Array): Promise<bigint>;
  /** The channel's last seq (0: none yet); for a watched channel, the last one handed to the listener. */
  lastSeq(channel: Uint8Array): Promise<bigint>;
  /** Undoes one watch(). */
  unwatch(channel: Uint8Array): void;
  /** Sets who hears of frames and inbox items (once, before the first write). */
  listen(listener: StoreListener): void;

  /**
   * Puts an envelope (id 0) into a principal's inbox, unless it holds `bound.maxItems` already
   * (`full`), or `bound.sender.maxItems` items of that sender (`sender_full`).
   */
  appendInbox(principal: string, envelope: Uint8Array, bound: InboxBound): Promise<InboxAppendResult>;
  /** Items with seq ≥ fromSeq, oldest first, bounded like read()'s frames. */
  readInbox(principal: string, fromSeq: bigint, limit: number, maxBytes?: number): Promise<InboxItem[]>;
  /** Deletes the items up to `upToSeq`; the inbox's seqs go on from its last one. */
  ackInbox(principal: string, upToSeq: bigint): Promise<void>;
  lastInboxSeq(principal: string): Promise<bigint>;

  /**
   * Adds a key package: single use (at most MAX_KEY_PACKAGES kept), or the one last-resort package,
   * which replaces the previous. `held`: the single-use packages the principal has now, so that
   * its agent knows how many to top up.
   */
  publishKeyPackage(principal: string, keyPackage: Uint8Array, lastResort: boolean): Promise<KeyPackagePublished>;
  /** Removes and returns one single-use key package, oldest first; else returns the last-resort one and keeps it. */
  takeKeyPackage(principal: string): Promise<Uint8Array | undefined>;

  /**
   * Binds `name` to `principal` and says whether it is bound to it now: the first principal to
   * claim a name keeps it, unless `authoritative` (a token the operator signed names the pair),
   * which replaces any earlier binding.
   */
  claimName(name: string, principal: string, authoritative: boolean): Promise<boolean>;
  /** The principal a name is bound to, if any. */
  nameOwner(name: string): Promise<string | undefined>;

  /** Drops archived frames older than `olderThanMs` and the oldest beyond `maxBytesPerChannel`; seqs never go back. */
  prune(nowMs: number, olderThanMs: number, maxBytesPerChannel: number): Promise<number>;
  stats(): Promise<StoreStats>;
  health(): StoreHealth;
  close(): Promise<void>;
}
