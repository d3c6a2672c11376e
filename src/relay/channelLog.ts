import type { RelayThroughType } from "../wire/envelope.js";

/**
 * Storage behind the relay. The sequencer's guarantees live here, as compare-and-set on the
 * channel's epoch inside one atomic append, so that a NATS JetStream implementation (per-subject
 * `Nats-Expected-Last-Subject-Sequence`) can replace SQLite without changing any caller.
 */

/** What a channel archive holds. */
export type StoredKind = "Msg" | "GroupProposal" | "GroupCommit" | RelayThroughType;

/*
 * Agents are principals: the hex of their identity key, which their link proved (linkAuth.ts).
 * Inboxes, the key-package directory and the senders of frames are keyed by principal; names are
 * labels, bound to a principal by the name registry.
 */

export interface ChannelFrame {
  readonly seq: bigint;
  readonly kind: StoredKind;
  readonly body: Uint8Array;
  /** The principal that sent it. */
  readonly from: string;
}

/** A frame for a channel nobody opened: the relay accepts nothing on a channel before its creator opens it. */
export type UnknownChannel = { readonly kind: "unknown" };

export type HandshakeResult =
  | UnknownChannel
  | { readonly kind: "accepted"; readonly seq: bigint; readonly epoch: bigint; readonly duplicate: boolean }
  | { readonly kind: "stale"; readonly epoch: bigint; readonly winningSeq: bigint }
  /** The channel has a commit key and this commit is not signed by it. */
  | { readonly kind: "unauthorized" };

/** How many epochs an application message may be behind its channel's: members keep two past epochs' keys. */
export const MSG_EPOCH_SLACK = 2n;

export type AppendResult = UnknownChannel | { readonly kind: "stored"; readonly seq: bigint; readonly duplicate: boolean };

export type MessageResult =
  | AppendResult
  /** Too old to be read by anyone: `epoch` is the channel's. */
  | { readonly kind: "stale"; readonly epoch: bigint }
  /** For an epoch the channel has not reached: no honest member built it. */
  | { readonly kind: "ahead"; readonly epoch: bigint };

/**
 * Opening a channel: `opened` the first time, `reopened` for the same creator and key again (a
 * retry), `taken` when the channel exists with another creator or has moved on.
 */
export type OpenResult = "opened" | "reopened" | "taken";

/** A commit's proof (wire/commitProof.ts), checked against the channel's stored key in the same atomic step. */
export interface CommitAuthorization {
  /** Whether the proof verifies under `key`, the channel's current commit key. */
  readonly verify: (key: Uint8Array) => boolean;
  /** The key that commits on the next epoch must be signed with. */
  readonly nextKey: Uint8Array;
}

export interface InboxItem {
  readonly seq: bigint;
  /** An encoded envelope (id 0); the relay sets the id to `seq` when it delivers it. */
  readonly envelope: Uint8Array;
}

export interface ChannelLog {
  /** Runs `fn` as one atomic unit: everything it stores is kept together, or none of it. */
  atomically(fn: () => void): void;
  /**
   * Opens a channel for its creator (the caller checked the creator's signature): epoch 0, whose
   * commits must be signed with `commitKey`. Channels this relay archived before channels were
   * opened count as open, their first commit key trusted on first use.
   */
  openChannel(channel: Uint8Array, creator: string, commitKey: Uint8Array): OpenResult;
  /** Archives a frame that needs no ordering check; a repeated body returns its first seq. */
  append(channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string): AppendResult;
  /**
   * Archives an application message like `append`, unless its `epoch` is more than
   * MSG_EPOCH_SLACK behind the channel's (members keep no keys for it, so nobody could read it)
   * or ahead of it (a repeated body still returns its first seq, whatever the epoch is now).
   */
  appendMessage(channel: Uint8Array, body: Uint8Array, from: string, epoch: bigint): MessageResult;
  /**
   * Archives a proposal or commit only if `epoch` is the channel's current epoch exactly. A commit
   * moves the channel to `epoch + 1` and, in the same atomic step, puts its Welcome into each
   * recipient's inbox. A repeated winner returns its first result. Every commit needs an
   * authorization that verifies under the channel's commit key (from its opening, then named by
   * the commit before); on channels from before openings, the first one is trusted on first use.
   */
  appendHandshake(
    channel: Uint8Array,
    kind: "GroupProposal" | "GroupCommit",
    body: Uint8Array,
    from: string,
    epoch: bigint,
    /** The Welcome envelope is built from the commit's seq, which only the log knows. */
    welcome: { recipients: readonly string[]; envelope: (commitSeq: bigint) => Uint8Array } | undefined,
    authorization?: CommitAuthorization,
  ): HandshakeResult;
  /** Frames with seq ≥ fromSeq, oldest first, at most `limit`. */
  read(channel: Uint8Array, fromSeq: bigint, limit: number): ChannelFrame[];
  lastSeq(channel: Uint8Array): bigint;

  appendInbox(agent: string, envelope: Uint8Array): bigint;
  readInbox(agent: string, fromSeq: bigint, limit: number): InboxItem[];
  ackInbox(agent: string, upToSeq: bigint): void;
  lastInboxSeq(agent: string): bigint;
  inboxSize(agent: string): number;

  publishKeyPackage(agent: string, keyPackage: Uint8Array, lastResort: boolean): void;
  /** Single-use key packages an agent has in the directory (the last-resort one not counted). */
  keyPackageCount(agent: string): number;
  /** Removes and returns one key package; the last-resort one is returned but kept. */
  takeKeyPackage(agent: string): Uint8Array | undefined;

  /**
   * Binds `name` to `principal` and says whether it is bound to it now: the first principal to
   * claim a name keeps it, unless `authoritative` (a token the operator signed names the pair),
   * which replaces any earlier binding.
   */
  claimName(name: string, principal: string, authoritative: boolean): boolean;
  /** The principal a name is bound to, if any. */
  nameOwner(name: string): string | undefined;

  /** Drops archived frames older than `olderThanMs` and the oldest beyond `maxBytesPerChannel`. */
  prune(nowMs: number, olderThanMs: number, maxBytesPerChannel: number): number;
  stats(): { channels: number; archiveBytes: number };
  close(): void;
}
