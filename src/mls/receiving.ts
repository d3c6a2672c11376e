import { makePskIndex, processPrivateMessage, zeroOutUint8Array, type CiphersuiteImpl, type ClientState, type IncomingMessageCallback } from "ts-mls";
import type { PrivateMessage } from "ts-mls/privateMessage.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { MlsError } from "./errors.js";
import { toMlsError } from "./errorMapping.js";
import type { FutureEpochs } from "./futureEpochs.js";
import type { GroupCache } from "./groupCache.js";
import { nextCursor, stateRecord, type GroupEntry } from "./groupEntry.js";
import { bytesEqual } from "./identity.js";
import { assertSameIdentities, assertUniqueNames, leafAt, memberAt, stillMember } from "./members.js";
import { decodeMessage } from "./messages.js";
import type { ReceiveOutcome } from "./outcomes.js";
import { unpackPayloads } from "./packedPayloads.js";
import type { SentEchoes } from "./sentEchoes.js";

/**
 * The most bytes one payload of a member's application message may carry: 64 KiB of text, as the
 * MCP tools take, and room for the few bytes the layers above put before it (its kind, its sent
 * time). Anything longer is dropped where it is decrypted, so that no member can fill another's
 * inbox, or one receive, with messages of up to a relay frame's 1 MiB.
 */
export const MAX_PAYLOAD_BYTES = 64 * 1024 + 64;

/** Proposal types a skytale channel uses; others (PSK, ReInit, extension changes) are refused. */
const ALLOWED_PROPOSALS = new Set(["add", "remove", "update"]);

/** One frame of a channel's relay stream, for receiveAll. */
export interface IncomingFrame {
  readonly bytes: Uint8Array;
  readonly seq: number | undefined;
}

/** What a receiver learned from a message's sender data, before processing it. */
export interface SenderSeen {
  readonly channel: string;
  readonly epoch: bigint;
  readonly contentType: string;
  readonly leafIndex: number;
  readonly generation: number;
  /** Members of the message's epoch, in leaf order. */
  readonly members: string[];
  readonly message: PrivateMessage;
}

export interface ReceiverOptions {
  readonly cs: CiphersuiteImpl;
  readonly clock: () => number;
  /** Which decrypted application messages go to the inbox (the rest are control messages). */
  readonly keepInInbox: (plaintext: Uint8Array) => boolean;
  readonly observeSender: ((seen: SenderSeen) => void) | undefined;
}

/**
 * Applies a channel's relay stream to its group: our own echoes, application messages into the
 * inbox, proposals and commits into the state, future-epoch messages into the buffer. Callers
 * hold the channel's lock.
 */
export class Receiver {
  constructor(
    private readonly groups: GroupCache,
    private readonly future: FutureEpochs,
    private readonly echoes: SentEchoes,
    private readonly options: ReceiverOptions,
  ) {}

  /**
   * Processes consecutive frames of one channel's stream in order, storing application messages
   * (and our own echoes) together: one transaction holds the last state, every inbox row and the
   * cursor. It stops before the first frame refused with an MlsError or once the group is gone.
   * Any other error is thrown, and the cached group is dropped so that memory matches the store.
   */
  async receiveAll(entry: GroupEntry, frames: readonly { bytes: Uint8Array; seq: number | undefined }[]): Promise<ReceiveOutcome[][]> {
    this.groups.beginBatch(entry);
    const results: ReceiveOutcome[][] = [];
    try {
      for (const frame of frames) {
        if (!this.groups.holds(entry)) break;
        try {
          results.push(await this.receive(entry, frame.bytes, frame.seq));
        } catch (error) {
          if (!(error instanceof MlsError)) throw error;
          break;
        }
      }
      this.groups.flushDeferred(entry);
    } catch (error) {
      if (this.groups.holds(entry)) this.groups.evict(entry.channel);
      throw error;
    } finally {
      this.groups.endBatch(entry);
    }
    return results;
  }

  /** One frame; a seq not above the cursor (or already buffered) is a duplicate and changes nothing. */
  async receive(entry: GroupEntry, bytes: Uint8Array, seq: number | undefined): Promise<ReceiveOutcome[]> {
    const { channel } = entry;
    // Buffered messages whose epoch came while we were down (a crash after a commit) go first.
    const earlier = await this.drain(entry);
    if (!this.groups.isCached(channel)) return earlier;
    if (seq !== undefined && (seq <= entry.cursor || this.future.holds(channel, seq))) {
      return [...earlier, { kind: "duplicate", channel, seq }];
    }
    const outcome = await this.receiveOne(entry, bytes, seq);
    const later = outcome.kind === "commit" && !outcome.removed ? await this.drain(entry) : [];
    return [...earlier, outcome, ...later];
  }

  /** Processes buffered messages the current epoch made readable. */
  drain(entry: GroupEntry): Promise<ReceiveOutcome[]> {
    return this.future.drain(entry, (e, pm, seq, id) => this.process(e, pm, seq, id));
  }

  private async receiveOne(entry: GroupEntry, bytes: Uint8Array, seq: number | undefined): Promise<ReceiveOutcome> {
    const { channel } = entry;
    const ownEpoch = this.echoes.take(bytes);
    if (ownEpoch !== undefined) {
      // Our own message, echoed: the relay archives only what members can still read (it refuses
      // stale epochs), so there is nothing to learn from decrypting it.
      this.groups.persist(entry, { cursor: nextCursor(entry, seq) }, []);
      return { kind: "own", channel, seq, epoch: ownEpoch };
    }
    if (entry.pending !== undefined && bytesEqual(entry.pending.commit, bytes)) {
      this.groups.confirmPending(entry, nextCursor(entry, seq));
      return { kind: "commit", channel, seq, epoch: entry.state.groupContext.epoch, own: true, removed: false, pendingDiscarded: false };
    }
    const message = decodeMessage(bytes);
    if (message.wireformat !== "mls_private_message") {
      throw new MlsError("bad_message", "only PrivateMessages are accepted in a channel");
    }
    const pm = message.privateMessage;
    if (!bytesEqual(pm.groupId, entry.state.groupContext.groupId)) throw new MlsError("bad_message", "message for another group");
    if (pm.epoch > entry.state.groupContext.epoch) return this.future.buffer(entry, pm, bytes, seq);
    return this.process(entry, pm, seq);
  }

  /** The leaf that sent a message, from its encrypted sender data, and that epoch's tree. */
  private async senderOf(channel: string, state: ClientState, pm: PrivateMessage): Promise<{ leafIndex: number; tree: ClientState["ratchetTree"] }> {
    const epochData = pm.epoch === state.groupContext.epoch
      ? { senderDataSecret: state.keySchedule.senderDataSecret, ratchetTree: state.ratchetTree }
      : state.historicalReceiverData.get(pm.epoch);
    if (epochData === undefined) throw new MlsError("epoch_mismatch", "message from an epoch this agent can no longer read");
    let senderData: Awaited<ReturnType<typeof decryptSenderData>>;
    try {
      senderData = await decryptSenderData(pm, epochData.senderDataSecret, this.options.cs);
    } catch (error) {
      throw toMlsError(error);
    }
    if (senderData === undefined) throw new MlsError("decryption_failure", "could not decrypt the sender data");
    const { observeSender } = this.options;
    if (observeSender !== undefined) {
      const tree = epochData.ratchetTree;
      const members = tree.flatMap((_, node) => (node % 2 === 0 && leafAt(tree, node / 2) !== undefined ? [memberAt(tree, node / 2).name] : []));
      observeSender({ channel, epoch: pm.epoch, contentType: pm.contentType, leafIndex: senderData.leafIndex, generation: senderData.generation, members, message: pm });
    }
    return { leafIndex: senderData.leafIndex, tree: epochData.ratchetTree };
  }

  /** Processes a message of the current or a past epoch; `bufferId` names its buffer row, if any. */
  private async process(entry: GroupEntry, pm: PrivateMessage, seq: number | undefined, bufferId?: number): Promise<ReceiveOutcome> {
    const { channel, state } = entry;
    const cursor = nextCursor(entry, seq);
    const bufferRemove = bufferId === undefined ? [] : [bufferId];
    const from = await this.senderOf(channel, state, pm);
    if (from.leafIndex === state.privatePath.leafIndex) {
      // The relay echoes our own frames; we cannot (and need not) decrypt them.
      this.groups.persist(entry, { cursor, bufferRemove }, []);
      return { kind: "own", channel, seq, epoch: pm.epoch };
    }
    if (pm.epoch < state.groupContext.epoch && !stillMember(from.tree, state.ratchetTree, from.leafIndex)) {
      // Old epochs stay readable for late messages, but not for members removed since.
      throw new MlsError("sender_removed", "message from a member who has since left or been removed");
    }
    const sender = pm.contentType === "application" ? memberAt(from.tree, from.leafIndex) : undefined;
    let forbidden: string | undefined;
    const policy: IncomingMessageCallback = (incoming) => {
      const proposals = incoming.kind === "commit" ? incoming.proposals : [incoming.proposal];
      forbidden = proposals.map((p) => String(p.proposal.proposalType)).find((t) => !ALLOWED_PROPOSALS.has(t));
      return forbidden === undefined ? "accept" : "reject";
    };
    let result: Awaited<ReturnType<typeof processPrivateMessage>>;
    try {
      result = await processPrivateMessage(state, pm, makePskIndex(state, {}), this.options.cs, policy);
    } catch (error) {
      throw toMlsError(error);
    }
    if (forbidden !== undefined) throw new MlsError("bad_message", `'${forbidden}' proposals are not allowed in skytale channels`);
    if (result.kind === "applicationMessage") {
      if (sender === undefined) throw new MlsError("decryption_failure", "application message without a verified sender");
      const all = unpackPayloads(result.message);
      const payloads = all.filter((p) => p.length <= MAX_PAYLOAD_BYTES);
      const oversized = all.filter((p) => p.length > MAX_PAYLOAD_BYTES).map((p) => p.length);
      const receivedAt = this.options.clock();
      const inbox = payloads.filter(this.options.keepInInbox).map((plaintext) => ({
        channel, seq, epoch: pm.epoch, sender: sender.name, senderDid: sender.did, plaintext, receivedAt,
      }));
      this.groups.persist(entry, { state: result.newState, cursor, inbox, bufferRemove }, result.consumed);
      return { kind: "application", channel, seq, epoch: pm.epoch, sender, payloads, oversized };
    }
    if (pm.contentType === "proposal") {
      this.groups.apply({ channel, state: stateRecord(result.newState), cursor, bufferRemove });
      this.groups.advance(entry, result.newState, cursor, result.consumed);
      return { kind: "proposal", channel, seq, epoch: pm.epoch };
    }
    assertSameIdentities(state.ratchetTree, result.newState.ratchetTree);
    assertUniqueNames(result.newState);
    const pendingDiscarded = entry.pending !== undefined;
    const epoch = pm.epoch + 1n;
    if (result.newState.groupActiveState.kind === "removedFromGroup") {
      // Out of the group: forget its keys at once (forward secrecy); the inbox keeps what was read.
      this.groups.apply({ channel, state: null });
      entry.pending = undefined;
      this.groups.evict(channel);
      result.consumed.forEach(zeroOutUint8Array);
      return { kind: "commit", channel, seq, epoch, own: false, removed: true, pendingDiscarded };
    }
    this.groups.apply({ channel, state: stateRecord(result.newState), cursor, pending: null, bufferRemove });
    // Only now: if the write above failed, the pending commit must still be ours to recognise.
    entry.pending = undefined;
    this.groups.advance(entry, result.newState, cursor, result.consumed);
    return { kind: "commit", channel, seq, epoch, own: false, removed: false, pendingDiscarded };
  }
}
