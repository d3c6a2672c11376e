import { decodeGroupState, type ClientState } from "ts-mls";
import { assertChannelName, nameOfHandle } from "./channelName.js";
import { MlsError } from "./errors.js";
import { heldCreator, type Creator } from "./genesis.js";
import { CHANNEL_NAME_EXTENSION } from "./keyPackages.js";
import { membersOf, type Member } from "./members.js";
import { encodeState } from "./stateCodec.js";
import { clientConfig } from "./suite.js";
import type { InboxMessage, StoredGroup } from "../store/records.js";

/** A commit we built and sent; the local state moves to `newState` only once it is confirmed. */
export interface PendingCommit {
  readonly commit: Uint8Array;
  readonly welcome: Uint8Array | undefined;
  readonly newState: ClientState;
  /** Secrets to zero once the commit is confirmed (the current state still uses some until then). */
  readonly consumed: Uint8Array[];
}

/** One channel's group as held in memory: the decoded state, its relay cursor and pending commit. */
export interface GroupEntry {
  /** The channel's handle on this agent (its name, or name#id when another channel has that name). */
  readonly channel: string;
  state: ClientState;
  cursor: number;
  pending: PendingCommit | undefined;
  /** Open while a batch of frames is received: their writes, merged, go to the store in one transaction. */
  deferred?: DeferredWrites | undefined;
}

/**
 * What a batch of received frames has changed and not yet stored. The in-memory entry is already
 * ahead of the store; nothing of it is visible (inbox rows, acknowledged cursor) until it is flushed,
 * and its consumed secrets are zeroed only then.
 */
export interface DeferredWrites {
  state: ClientState | undefined;
  cursor: number | undefined;
  readonly inbox: InboxMessage[];
  readonly bufferRemove: number[];
  readonly consumed: Uint8Array[];
}

export interface ChannelInfo {
  /** The handle this agent knows the channel by. */
  readonly channel: string;
  /** The name its creator gave it (the same as the handle unless two channels share it). */
  readonly name: string;
  readonly groupId: Uint8Array;
  /** Who made the channel (checked on joining); undefined for channels made before channels had a genesis. */
  readonly creator: Creator | undefined;
  readonly epoch: bigint;
  readonly members: Member[];
  /** RFC 9420 epoch_authenticator: equal across members iff they share the epoch's secrets. */
  readonly epochAuthenticator: Uint8Array;
  readonly pendingCommit: boolean;
  /** Proposals received and not committed yet (while any are, no one can send). */
  readonly pendingProposals: number;
}

export function describe(entry: GroupEntry): ChannelInfo {
  const { state } = entry;
  return {
    channel: entry.channel,
    name: nameOfHandle(entry.channel),
    groupId: state.groupContext.groupId,
    creator: heldCreator(state),
    epoch: state.groupContext.epoch,
    members: membersOf(state),
    epochAuthenticator: state.keySchedule.epochAuthenticator,
    pendingCommit: entry.pending !== undefined,
    pendingProposals: Object.keys(state.unappliedProposals).length,
  };
}

/**
 * Zeroes a used secret. ts-mls's zeroOutUint8Array first fills the buffer from the CSPRNG, a
 * call per buffer that shows in the per-message profile; fill(0) on a buffer other code still
 * references cannot be optimised away.
 */
export function wipe(secret: Uint8Array): void {
  secret.fill(0);
}

/** Cursors only move forward: a buffered message processed late must not rewind them. */
export function nextCursor(entry: GroupEntry, seq: number | undefined): number {
  return seq === undefined ? entry.cursor : Math.max(seq, entry.cursor);
}

export function stateRecord(state: ClientState): { groupId: Uint8Array; epoch: bigint; blob: Uint8Array } {
  return { groupId: state.groupContext.groupId, epoch: state.groupContext.epoch, blob: encodeState(state) };
}

function decodeState(blob: Uint8Array): ClientState {
  const decoded = decodeGroupState(blob, 0);
  if (decoded === undefined) throw new MlsError("bad_message", "stored group state does not decode");
  return { ...decoded[0], clientConfig };
}

export function decodeEntry(stored: StoredGroup): GroupEntry {
  const pending = stored.pending && {
    commit: stored.pending.commit,
    welcome: stored.pending.welcome,
    newState: decodeState(stored.pending.newState),
    consumed: [],
  };
  return { channel: stored.channel, state: decodeState(stored.state), cursor: stored.cursor, pending };
}

export function channelNameOf(state: ClientState): string {
  const extension = state.groupContext.extensions.find((e) => e.extensionType === CHANNEL_NAME_EXTENSION);
  if (extension === undefined) throw new MlsError("invalid_welcome", "the group carries no channel name");
  let name: string;
  try {
    name = new TextDecoder("utf-8", { fatal: true }).decode(extension.extensionData);
    assertChannelName(name);
  } catch {
    throw new MlsError("invalid_welcome", "the group's channel name is not a valid channel name");
  }
  return name;
}
