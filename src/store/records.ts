/**
 * The records the store keeps for the MLS layer and the interface it offers it, without SQL.
 * Every `apply` is one atomic transaction: that is how a processed message, its plaintext, the
 * relay cursor and the new group state are kept or lost together.
 */

export interface StoredIdentity {
  readonly name: string;
  readonly signaturePublicKey: Uint8Array;
  readonly signaturePrivateKey: Uint8Array;
}

export interface StoredKeyPackage {
  /** KeyPackageRef (RFC 9420 §5.2), the id a Welcome names. */
  readonly ref: Uint8Array;
  /** Encoded MLSMessage holding the public KeyPackage. */
  readonly publicPackage: Uint8Array;
  /** Encoded private keys (init, HPKE leaf, signature). */
  readonly privatePackage: Uint8Array;
  /** Unix seconds after which the package must not be used. */
  readonly notAfter: number;
  /** Kept when a join uses it (RFC 9420 §16.8): the package the relay hands out once the single-use ones are gone. */
  readonly lastResort?: boolean;
}

/** A commit we sent and whose fate the relay has not told yet. */
export interface StoredPendingCommit {
  readonly commit: Uint8Array;
  readonly welcome: Uint8Array | undefined;
  /** Encoded group state that becomes current when the commit is confirmed. */
  readonly newState: Uint8Array;
}

export interface StoredGroup {
  readonly channel: string;
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly state: Uint8Array;
  /** Highest relay sequence number processed for this channel, -1 before the first. */
  readonly cursor: number;
  readonly pending: StoredPendingCommit | undefined;
}

/** A decrypted application message, kept for the agent's inbox. */
export interface InboxMessage {
  readonly channel: string;
  readonly seq: number | undefined;
  readonly epoch: bigint;
  readonly sender: string;
  /** The sender's identity key as a did:key (rows stored before keys were shown hold a hex fingerprint). */
  readonly senderDid: string;
  readonly plaintext: Uint8Array;
  readonly receivedAt: number;
}

/** An MLS message for an epoch this agent has not reached yet. */
export interface BufferedMessage {
  readonly id: number;
  readonly channel: string;
  readonly epoch: bigint;
  readonly seq: number | undefined;
  readonly message: Uint8Array;
}

/** One atomic change to one group. Absent fields are left as they are. */
export interface GroupChange {
  readonly channel: string;
  /** The new current state, or null to forget the group. */
  readonly state?: { readonly groupId: Uint8Array; readonly epoch: bigint; readonly blob: Uint8Array } | null;
  /** A new pending commit, or null to clear it. */
  readonly pending?: StoredPendingCommit | null;
  readonly cursor?: number;
  readonly inbox?: readonly InboxMessage[];
  readonly bufferAdd?: readonly Omit<BufferedMessage, "id">[];
  readonly bufferRemove?: readonly number[];
  /** A key package used up by this change (a last-resort one is kept). */
  readonly consumeKeyPackage?: Uint8Array;
}

export interface MlsStatePort {
  loadIdentity(): StoredIdentity | undefined;
  saveIdentity(identity: StoredIdentity): void;
  saveKeyPackage(keyPackage: StoredKeyPackage): void;
  loadKeyPackage(ref: Uint8Array): StoredKeyPackage | undefined;
  /** The last-resort key package that lives longest, if any. */
  lastResortKeyPackage(): StoredKeyPackage | undefined;
  /** Handles of the channels held. */
  listChannels(): string[];
  /** The handle of the channel whose group has this id, if it is held. */
  findGroup(groupId: Uint8Array): string | undefined;
  loadGroup(channel: string): StoredGroup | undefined;
  loadBuffered(channel: string): BufferedMessage[];
  countBuffered(channel: string): number;
  pruneKeyPackages(nowSeconds: number): number;
  apply(change: GroupChange): void;
}
