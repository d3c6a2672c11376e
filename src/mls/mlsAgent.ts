import { randomBytes } from "node:crypto";
import {
  createApplicationMessage,
  createCommit,
  createGroup,
  createProposal,
  decodeGroupState,
  encodeMlsMessage,
  makePskIndex,
  mlsExporter,
  processPrivateMessage,
  zeroOutUint8Array,
  type CiphersuiteImpl,
  type ClientState,
  type IncomingMessageCallback,
  type Proposal,
} from "ts-mls";
import { addHistoricalReceiverData } from "ts-mls/clientState.js";
import type { PrivateMessage } from "ts-mls/privateMessage.js";
import { decryptSenderData } from "ts-mls/privateMessage.js";
import { consumeRatchet } from "ts-mls/secretTree.js";
import { leafToNodeIndex, toLeafIndex } from "ts-mls/treemath.js";
import { MlsError, type MlsErrorCode } from "./errors.js";
import { toMlsError } from "./errorMapping.js";
import { assertAgentName, bytesEqual, fingerprint, memberIdentity, parseCredential, type Identity, type MemberIdentity } from "./identity.js";
import { assertKeyPackageLive, CHANNEL_NAME_EXTENSION, createKeyPackage, decodePrivateKeys } from "./keyPackages.js";
import { assertSameIdentities, assertUniqueNames, leafAt, memberAt, membersOf, stillMember, type Member } from "./members.js";
import { decodeKeyPackageMessage, decodeMessage, decodeWelcomeMessage, encodePrivateMessage, encodeWelcomeMessage, messageDigest } from "./messages.js";
import { assertChannelName } from "./channelName.js";
import { StoreError } from "../store/errors.js";
import { KeyedMutex } from "./mutex.js";
import { encodePacked, everyLeafUnpacks, groupForPacking, PACKED_MARKER, unpackPayloads } from "./packedPayloads.js";
import { withBucketPadding } from "./padding.js";
import { joinFromWelcome } from "./welcomeJoin.js";
import { COMMIT_KEY_BYTES, COMMIT_KEY_EXPORTER_LABEL, proveCommit, type CommitProof } from "../wire/commitProof.js";
import { encodeState } from "./stateCodec.js";
import type { GroupChange, InboxMessage, MlsStatePort, StoredGroup } from "../store/records.js";
import { CIPHER_SUITE, clientConfig, loadCiphersuite } from "./suite.js";

const GROUP_ID_BYTES = 12;
/** Proposal types a skytale channel uses; others (PSK, ReInit, extension changes) are refused. */
const ALLOWED_PROPOSALS = new Set(["add", "remove", "update"]);
/** Messages for future epochs kept per channel; a relay that sends more is misbehaving. */
export const MAX_BUFFERED_PER_CHANNEL = 256;
/** How far ahead a buffered message's epoch may be; anything further is not a reordering. */
export const MAX_EPOCHS_AHEAD = 64n;

/** What one incoming message did. */
export type ReceiveOutcome =
  /** One message, carrying one payload or several packed together (packedPayloads.ts). */
  | { kind: "application"; channel: string; seq: number | undefined; epoch: bigint; sender: MemberIdentity; payloads: Uint8Array[] }
  | { kind: "commit"; channel: string; seq: number | undefined; epoch: bigint; own: boolean; removed: boolean; pendingDiscarded: boolean }
  | { kind: "proposal"; channel: string; seq: number | undefined; epoch: bigint }
  | { kind: "buffered"; channel: string; seq: number | undefined; epoch: bigint }
  | { kind: "duplicate"; channel: string; seq: number }
  /** Our own message or commit, echoed back by the relay: nothing to do but note its seq. */
  | { kind: "own"; channel: string; seq: number | undefined; epoch: bigint }
  /** A buffered message that turned out unreadable once its epoch came; it is dropped. */
  | { kind: "rejected"; channel: string; seq: number | undefined; epoch: bigint; code: MlsErrorCode };

/** A handshake ready to send; the local state moves only once it is confirmed. */
export interface OutgoingCommit {
  readonly channel: string;
  /** The epoch the commit was built on (what the relay compares with the channel's epoch). */
  readonly epoch: bigint;
  readonly commit: Uint8Array;
  /** For the members it adds, released by the relay only after the commit wins. */
  readonly welcome: Uint8Array | undefined;
  /** Shows the relay the commit comes from the current epoch (see wire/commitProof.ts). */
  readonly proof: CommitProof;
}

export interface ChannelInfo {
  readonly channel: string;
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly members: Member[];
  /** RFC 9420 epoch_authenticator: equal across members iff they share the epoch's secrets. */
  readonly epochAuthenticator: Uint8Array;
  readonly pendingCommit: boolean;
  /** Proposals received and not committed yet (while any are, no one can send). */
  readonly pendingProposals: number;
}

export interface MlsAgentOptions {
  readonly name: string;
  readonly port: MlsStatePort;
  /** Defaults to suite 0x0001 on the node:crypto provider. */
  readonly cipherSuite?: CiphersuiteImpl;
  /** Milliseconds since the epoch; injectable for lifetime tests. */
  readonly clock?: () => number;
  /** Which decrypted application messages go to the inbox (the rest are control messages). */
  readonly keepInInbox?: (plaintext: Uint8Array) => boolean;
  /** Test-only: told the sender data of every incoming message (chaos tests look for reused generations). */
  readonly observeSender?: (seen: SenderSeen) => void;
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

interface PendingCommit {
  readonly commit: Uint8Array;
  readonly welcome: Uint8Array | undefined;
  readonly newState: ClientState;
  /** Secrets to zero once the commit is confirmed (the current state still uses some until then). */
  readonly consumed: Uint8Array[];
}

interface GroupEntry {
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
interface DeferredWrites {
  state: ClientState | undefined;
  cursor: number | undefined;
  readonly inbox: InboxMessage[];
  readonly bufferRemove: number[];
  readonly consumed: Uint8Array[];
}

/** An encrypted application message, ready to send, and how many payloads it carries. */
export interface SealedMessage {
  readonly bytes: Uint8Array;
  readonly payloads: number;
}

/** An encrypt call waiting for its channel's next batch. */
interface SendRequest {
  readonly plaintext: Uint8Array;
  /** May share one message with the packable requests next to it in the queue. */
  readonly packable: boolean;
  resolve(sealed: SealedMessage): void;
  reject(error: unknown): void;
}

/** One frame of a channel's relay stream, for receiveAll. */
export interface IncomingFrame {
  readonly bytes: Uint8Array;
  readonly seq: number | undefined;
}

/** Sent messages remembered until their echo comes back (a few batches' worth). */
const MAX_UNECHOED = 4096;

/** Most messages encrypted (or frames received) per store transaction. */
export const MAX_BATCH = 256;

/**
 * One agent's MLS engine: its identity, key packages and one group per channel. Every operation
 * on a channel runs under that channel's lock, and every new state reaches the store (through
 * MlsStatePort.apply, atomically with whatever else the step produced) before any ciphertext is
 * returned to the caller.
 */
export class MlsAgent {
  private readonly groups = new Map<string, GroupEntry>();
  private readonly mutex = new KeyedMutex();
  private readonly sendQueues = new Map<string, SendRequest[]>();
  /**
   * Digests of application messages we sent and the relay has not echoed yet, with their epoch:
   * the echo is recognised without decrypting its sender data. Bounded; an echo not found here
   * (after a restart, or once evicted) takes the decrypting path and ends the same.
   */
  private readonly unechoed = new Map<string, bigint>();

  private constructor(
    readonly identity: Identity,
    private readonly port: MlsStatePort,
    private readonly cs: CiphersuiteImpl,
    private readonly clock: () => number,
    private readonly keepInInbox: (plaintext: Uint8Array) => boolean,
    private readonly observeSender: ((seen: SenderSeen) => void) | undefined,
  ) {}

  /** Opens the agent whose state `port` holds, creating its identity key on first start. */
  static async open(options: MlsAgentOptions): Promise<MlsAgent> {
    assertAgentName(options.name);
    const cs = options.cipherSuite ?? (await loadCiphersuite());
    let identity: Identity | undefined = options.port.loadIdentity();
    if (identity === undefined) {
      const keys = await cs.signature.keygen();
      identity = { name: options.name, signaturePublicKey: keys.publicKey, signaturePrivateKey: keys.signKey };
      options.port.saveIdentity(identity);
    } else if (identity.name !== options.name) {
      throw new MlsError("bad_request", `this data dir belongs to agent '${identity.name}', not '${options.name}'`);
    }
    const clock = options.clock ?? Date.now;
    options.port.pruneKeyPackages(Math.floor(clock() / 1000));
    return new MlsAgent(identity, options.port, cs, clock, options.keepInInbox ?? (() => true), options.observeSender);
  }

  /** The agent's fingerprint, for people to compare out of band. */
  get fingerprint(): string {
    return fingerprint(this.identity.signaturePublicKey);
  }

  /** A fresh single-use key package (encoded MLSMessage); its private half stays in the store. */
  async createKeyPackage(): Promise<Uint8Array> {
    const fresh = await createKeyPackage(this.identity, this.cs, this.nowSeconds());
    this.port.saveKeyPackage(fresh.stored);
    return fresh.stored.publicPackage;
  }

  /** Channels this agent holds a group for. */
  channels(): string[] {
    return this.port.listChannels();
  }

  /** Creates the group for a new channel with this agent as its only member. */
  async createChannel(channel: string): Promise<ChannelInfo> {
    assertChannelName(channel);
    return this.mutex.run(channel, async () => {
      this.assertAbsent(channel);
      const own = await createKeyPackage(this.identity, this.cs, this.nowSeconds());
      const extension = { extensionType: CHANNEL_NAME_EXTENSION, extensionData: new TextEncoder().encode(channel) };
      const state = await createGroup(new Uint8Array(randomBytes(GROUP_ID_BYTES)), own.keyPackage, own.privateKeys, [extension], this.cs, clientConfig);
      zeroOutUint8Array(own.privateKeys.initPrivateKey);
      return this.install(channel, state, -1);
    });
  }

  /**
   * Joins the group a Welcome opens, using (and deleting) the key package it was made for. With
   * `keepKeyPackage` the key package stays until consumeKeyPackage(): a Welcome the relay should
   * not have released (its commit lost) may be followed by the right one for the same package.
   */
  async join(welcomeBytes: Uint8Array, cursor = -1, options: { keepKeyPackage?: boolean } = {}): Promise<ChannelInfo & { keyPackageRef: Uint8Array }> {
    const welcome = decodeWelcomeMessage(welcomeBytes);
    const stored = welcome.secrets.map((s) => this.port.loadKeyPackage(s.newMember)).find((kp) => kp !== undefined);
    if (stored === undefined) {
      throw new MlsError("unknown_key_package", "this Welcome is not for any unused key package of this agent");
    }
    if (stored.notAfter < this.nowSeconds()) throw new MlsError("expired_key_package", "the key package this Welcome uses has expired");
    const privateKeys = decodePrivateKeys(stored.privatePackage, this.identity);
    try {
      let state: ClientState;
      try {
        state = await joinFromWelcome(welcome, decodeKeyPackageMessage(stored.publicPackage), privateKeys, this.cs, clientConfig);
      } catch (error) {
        throw toMlsError(error, "invalid_welcome");
      }
      assertUniqueNames(state);
      const channel = channelNameOf(state);
      return await this.mutex.run(channel, async () => {
        this.assertAbsent(channel);
        try {
          return { ...this.install(channel, state, cursor, options.keepKeyPackage ? undefined : stored.ref), keyPackageRef: stored.ref };
        } catch (error) {
          if (error instanceof StoreError && error.code === "conflict") {
            throw new MlsError("unknown_key_package", "the key package this Welcome uses was used already");
          }
          throw error;
        }
      });
    } finally {
      zeroOutUint8Array(privateKeys.initPrivateKey);
    }
  }

  /** Uses up a key package kept by join({ keepKeyPackage }); one used already is fine. */
  consumeKeyPackage(ref: Uint8Array): void {
    if (this.port.loadKeyPackage(ref) === undefined) return;
    try {
      this.port.apply({ channel: "", consumeKeyPackage: ref });
    } catch (error) {
      if (!(error instanceof StoreError && error.code === "conflict")) throw error;
    }
  }

  /**
   * Forgets a channel's group (keys included) without telling anyone: for a group this agent
   * found to be on a branch the others do not share, so that a Welcome can replace it.
   */
  abandon(channel: string): Promise<void> {
    return this.mutex.run(channel, async () => {
      this.load(channel);
      const bufferRemove = this.port.loadBuffered(channel).map((b) => b.id);
      this.port.apply({ channel, state: null, pending: null, bufferRemove });
      this.groups.delete(channel);
    });
  }

  private assertAbsent(channel: string): void {
    if (this.groups.has(channel) || this.port.loadGroup(channel) !== undefined) {
      throw new MlsError("already_exists", `channel '${channel}' exists on this agent already`);
    }
  }

  /** Stores a new group (and uses up the key package it was joined with) and caches it. */
  private install(channel: string, state: ClientState, cursor: number, consumeKeyPackage?: Uint8Array): ChannelInfo {
    this.port.apply({ channel, state: stateRecord(state), cursor, pending: null, ...(consumeKeyPackage ? { consumeKeyPackage } : {}) });
    const entry: GroupEntry = { channel, state, cursor, pending: undefined };
    this.groups.set(channel, entry);
    return this.info(entry);
  }

  /**
   * Encrypts an application message; the new state is stored before the ciphertext is returned.
   * Calls that arrive while the channel is busy are encrypted together, in call order, and their
   * common new state is stored in one transaction before any of their ciphertexts is returned.
   */
  async encrypt(channel: string, plaintext: Uint8Array): Promise<Uint8Array> {
    return (await this.enqueue(channel, plaintext, false)).bytes;
  }

  /**
   * Like encrypt, but the payload may travel in one message with other sealed payloads queued next
   * to it (when every member can read packed messages): the callers then get the same object, and
   * it is sent once for all of them.
   */
  seal(channel: string, plaintext: Uint8Array): Promise<SealedMessage> {
    return this.enqueue(channel, plaintext, true);
  }

  private enqueue(channel: string, plaintext: Uint8Array, packable: boolean): Promise<SealedMessage> {
    if (plaintext[0] === PACKED_MARKER) return Promise.reject(new MlsError("bad_request", "a payload may not begin with the packed-message marker 0xFF"));
    return new Promise((resolve, reject) => {
      const request = { plaintext, packable, resolve, reject };
      const queue = this.sendQueues.get(channel);
      if (queue !== undefined) return void queue.push(request);
      this.sendQueues.set(channel, [request]);
      void this.mutex.run(channel, () => this.encryptQueued(channel));
    });
  }

  private async encryptQueued(channel: string): Promise<void> {
    const queue = this.sendQueues.get(channel) ?? [];
    const batch = queue.splice(0, MAX_BATCH);
    if (queue.length === 0) this.sendQueues.delete(channel);
    else void this.mutex.run(channel, () => this.encryptQueued(channel));
    try {
      const entry = this.activeEntry(channel);
      let state = entry.state;
      const done: { requests: SendRequest[]; message: PrivateMessage }[] = [];
      const consumed: Uint8Array[] = [];
      for (const requests of groupForPacking(batch, everyLeafUnpacks(state.ratchetTree))) {
        const padded = withBucketPadding(this.cs, state.groupContext.groupId, state.groupContext.epoch);
        const plaintext = requests.length === 1 ? requests[0]!.plaintext : encodePacked(requests.map((r) => r.plaintext));
        try {
          const result = await createApplicationMessage(state, plaintext, padded);
          state = result.newState;
          consumed.push(...result.consumed);
          done.push({ requests, message: result.privateMessage });
        } catch (error) {
          const refused = toMlsError(error, "bad_request");
          requests.forEach((r) => r.reject(refused));
        }
      }
      if (done.length === 0) return;
      // Every generation of the batch is recorded as used before any of its ciphertexts exists outside.
      this.apply({ channel, state: stateRecord(state) });
      entry.state = state;
      const sealed = done.map((d) => ({ bytes: encodePrivateMessage(d.message), payloads: d.requests.length }));
      consumed.forEach(wipe);
      for (const message of sealed) this.rememberSent(message.bytes, state.groupContext.epoch);
      done.forEach((d, i) => d.requests.forEach((r) => r.resolve(sealed[i]!)));
    } catch (error) {
      // Settled requests ignore this; the rest get the error and no ciphertext.
      batch.forEach((r) => r.reject(error));
    }
  }

  /** A commit adding the agents whose key packages (encoded MLSMessages) are given. */
  async addMembers(channel: string, keyPackages: readonly Uint8Array[]): Promise<OutgoingCommit> {
    const now = this.nowSeconds();
    const proposals: Proposal[] = keyPackages.map((bytes) => {
      const keyPackage = decodeKeyPackageMessage(bytes);
      if (keyPackage.cipherSuite !== CIPHER_SUITE) throw new MlsError("bad_request", "key package for another cipher suite");
      assertKeyPackageLive(keyPackage, now);
      const { credential, signaturePublicKey } = keyPackage.leafNode;
      if (memberIdentity(credential, signaturePublicKey) === undefined) {
        throw new MlsError("invalid_credential", "the key package's credential does not name the key it is signed with");
      }
      return { proposalType: "add", add: { keyPackage } };
    });
    if (proposals.length === 0) throw new MlsError("bad_request", "no key packages given");
    return this.commit(channel, (state) => {
      const names = membersOf(state).map((m) => m.name);
      for (const p of proposals) {
        if (p.proposalType !== "add") continue;
        const name = parseCredential(p.add.keyPackage.leafNode.credential)?.name ?? "";
        if (names.includes(name)) throw new MlsError("bad_request", `'${name}' is already a member of '${channel}' (names are unique in a channel)`);
        names.push(name);
      }
      return proposals;
    });
  }

  /** A commit removing every leaf of the named members. */
  removeMembers(channel: string, names: readonly string[]): Promise<OutgoingCommit> {
    return this.commit(channel, (state) => {
      const leaves = membersOf(state).filter((m) => names.includes(m.name));
      const missing = names.filter((name) => !leaves.some((m) => m.name === name));
      if (missing.length > 0) throw new MlsError("not_found", `not members of '${channel}': ${missing.join(", ")}`);
      if (leaves.some((m) => m.leafIndex === state.privatePath.leafIndex)) {
        throw new MlsError("bad_request", "an agent cannot remove itself; use leave");
      }
      return leaves.map((m) => ({ proposalType: "remove", remove: { removed: m.leafIndex } }));
    });
  }

  /**
   * A commit with a fresh UpdatePath: new keys for this agent (post-compromise security). Like
   * every commit, it also commits the proposals received so far (such as another member's leave).
   */
  selfUpdate(channel: string): Promise<OutgoingCommit> {
    return this.commit(channel, () => []);
  }

  /** A commit of the proposals received so far; bad_request when there are none. */
  commitPendingProposals(channel: string): Promise<OutgoingCommit> {
    return this.commit(channel, (state) => {
      if (Object.keys(state.unappliedProposals).length === 0) throw new MlsError("bad_request", `no proposals pending on '${channel}'`);
      return [];
    });
  }

  /**
   * A proposal to remove this agent. MLS does not let a member commit its own removal, so another
   * member commits it (commitPendingProposals); this agent learns it is out when it processes that.
   */
  proposeLeave(channel: string): Promise<Uint8Array> {
    return this.mutex.run(channel, async () => {
      const entry = this.activeEntry(channel);
      const padded = withBucketPadding(this.cs, entry.state.groupContext.groupId, entry.state.groupContext.epoch);
      const proposal: Proposal = { proposalType: "remove", remove: { removed: entry.state.privatePath.leafIndex } };
      let result: Awaited<ReturnType<typeof createProposal>>;
      try {
        result = await createProposal(entry.state, false, proposal, padded);
      } catch (error) {
        throw toMlsError(error, "bad_request");
      }
      this.apply({ channel, state: stateRecord(result.newState) });
      entry.state = result.newState;
      return encodeMlsMessage(result.message);
    });
  }

  /**
   * The relay accepted our pending commit: it becomes the current state. Returns the outcomes of
   * buffered messages the new epoch made readable.
   */
  confirmCommit(channel: string): Promise<ReceiveOutcome[]> {
    return this.mutex.run(channel, async () => {
      const entry = this.load(channel);
      this.confirmPending(entry);
      return this.drainBuffered(entry);
    });
  }

  /**
   * The commit this agent built that the relay has not answered (it survives a restart), with the
   * names it adds, so that it can be sent again; undefined when there is none.
   */
  pendingCommit(channel: string): Promise<(OutgoingCommit & { added: string[] }) | undefined> {
    return this.mutex.run(channel, async () => {
      const entry = this.load(channel);
      if (entry.pending === undefined) return undefined;
      const before = new Set(membersOf(entry.state).map((m) => m.name));
      const { pending, state } = entry;
      const added = membersOf(pending.newState).map((m) => m.name).filter((name) => !before.has(name));
      const { groupId, epoch } = state.groupContext;
      const proof = proveCommit(groupId, epoch, pending.commit, await this.commitKeySeed(state), await this.commitKeySeed(pending.newState));
      return { channel, epoch, commit: pending.commit, welcome: pending.welcome, proof, added };
    });
  }

  /** The relay rejected our pending commit: drop it; rebuild on the newer epoch once processed. */
  discardCommit(channel: string): Promise<void> {
    return this.mutex.run(channel, async () => {
      const entry = this.load(channel);
      if (entry.pending === undefined) throw new MlsError("no_pending_commit", `no commit pending on '${channel}'`);
      this.apply({ channel, pending: null });
      entry.pending = undefined;
    });
  }

  /**
   * Processes one message of the channel's relay stream. `seq` is the relay's sequence number;
   * one not above the channel's cursor is a duplicate and changes nothing. Messages for a future
   * epoch are kept and processed when that epoch is reached; their outcomes follow the first.
   */
  receive(channel: string, bytes: Uint8Array, seq?: number): Promise<ReceiveOutcome[]> {
    return this.mutex.run(channel, async () => this.receiveLocked(this.load(channel), bytes, seq));
  }

  /**
   * Processes consecutive frames of one channel's stream, in order, like `receive` each, but
   * application messages (and our own echoes) are stored together: one transaction holds the
   * last state, every inbox row and the cursor. Nothing of the batch is visible or acknowledged
   * before that transaction commits. Returns the outcomes of the frames processed: it stops before
   * the first frame refused with an MlsError (left unconsumed, for the caller to handle alone) or
   * once the group is gone. Any other error is thrown, and the cached group is dropped so that
   * memory matches the store again.
   */
  receiveAll(channel: string, frames: readonly IncomingFrame[]): Promise<ReceiveOutcome[][]> {
    return this.mutex.run(channel, async () => {
      const entry = this.load(channel);
      entry.deferred = { state: undefined, cursor: undefined, inbox: [], bufferRemove: [], consumed: [] };
      const results: ReceiveOutcome[][] = [];
      try {
        for (const frame of frames) {
          if (this.groups.get(channel) !== entry) break;
          try {
            results.push(await this.receiveLocked(entry, frame.bytes, frame.seq));
          } catch (error) {
            if (!(error instanceof MlsError)) throw error;
            break;
          }
        }
        this.flushDeferred(entry);
      } catch (error) {
        if (this.groups.get(channel) === entry) this.groups.delete(channel);
        throw error;
      } finally {
        entry.deferred = undefined;
      }
      return results;
    });
  }

  private async receiveLocked(entry: GroupEntry, bytes: Uint8Array, seq: number | undefined): Promise<ReceiveOutcome[]> {
    const { channel } = entry;
    // Buffered messages whose epoch came while we were down (a crash after a commit) go first.
    const earlier = await this.drainBuffered(entry);
    if (!this.groups.has(channel)) return earlier;
    // Rows are read only when something is buffered: this runs for every message received.
    const isBuffered = (n: number) => this.port.countBuffered(channel) > 0 && this.port.loadBuffered(channel).some((b) => b.seq === n);
    if (seq !== undefined && (seq <= entry.cursor || isBuffered(seq))) {
      return [...earlier, { kind: "duplicate", channel, seq }];
    }
    const outcome = await this.receiveOne(entry, bytes, seq);
    const later = outcome.kind === "commit" && !outcome.removed ? await this.drainBuffered(entry) : [];
    return [...earlier, outcome, ...later];
  }

  /**
   * Stores a step's state, cursor and inbox rows (or, inside receiveAll, adds them to the batch)
   * and then zeroes its consumed secrets.
   */
  private persist(
    entry: GroupEntry,
    change: { state?: ClientState; cursor: number; inbox?: InboxMessage[]; bufferRemove?: number[] },
    consumed: Uint8Array[],
  ): void {
    const { deferred } = entry;
    if (deferred === undefined) {
      const { state, ...rest } = change;
      this.port.apply({ channel: entry.channel, ...rest, ...(state ? { state: stateRecord(state) } : {}) });
      consumed.forEach(wipe);
    } else {
      deferred.state = change.state ?? deferred.state;
      deferred.cursor = change.cursor;
      deferred.inbox.push(...(change.inbox ?? []));
      deferred.bufferRemove.push(...(change.bufferRemove ?? []));
      deferred.consumed.push(...consumed);
    }
    if (change.state) entry.state = change.state;
    entry.cursor = change.cursor;
  }

  /** Writes what a batch deferred (if anything), so that a later write cannot overtake it. */
  private flushDeferred(entry: GroupEntry): void {
    const d = entry.deferred;
    if (d === undefined || (d.state === undefined && d.cursor === undefined && d.bufferRemove.length === 0)) return;
    entry.deferred = { state: undefined, cursor: undefined, inbox: [], bufferRemove: [], consumed: [] };
    this.port.apply({
      channel: entry.channel,
      ...(d.state ? { state: stateRecord(d.state) } : {}),
      ...(d.cursor !== undefined ? { cursor: d.cursor } : {}),
      inbox: d.inbox,
      bufferRemove: d.bufferRemove,
    });
    d.consumed.forEach(wipe);
  }

  /** Every store write of a channel goes through here, after what a batch deferred. */
  private apply(change: GroupChange): void {
    const entry = this.groups.get(change.channel);
    if (entry !== undefined) this.flushDeferred(entry);
    this.port.apply(change);
  }

  /**
   * Moves the channel's cursor past a frame that cannot be processed (it was refused with an
   * MlsError, or is not an MLS message for us), so that a resumed stream does not bring it back.
   */
  skip(channel: string, seq: number): Promise<void> {
    return this.mutex.run(channel, async () => {
      const entry = this.load(channel);
      if (seq <= entry.cursor) return;
      this.apply({ channel, cursor: seq });
      entry.cursor = seq;
    });
  }

  /** The channel's current epoch, from the cached group; cheaper than channelInfo (no lock, no member list). */
  epochOf(channel: string): bigint {
    return this.load(channel).state.groupContext.epoch;
  }

  /** Current epoch, members and pending status of a channel. */
  channelInfo(channel: string): Promise<ChannelInfo> {
    return this.mutex.run(channel, async () => this.info(this.load(channel)));
  }

  private async commit(channel: string, proposalsFor: (state: ClientState) => Proposal[]): Promise<OutgoingCommit> {
    return this.mutex.run(channel, async () => {
      const entry = this.activeEntry(channel);
      if (entry.pending !== undefined) throw new MlsError("commit_pending", `a commit on '${channel}' awaits the relay's answer`);
      const { state } = entry;
      const extraProposals = proposalsFor(state);
      const padded = withBucketPadding(this.cs, state.groupContext.groupId, state.groupContext.epoch);
      // Only a Welcome needs the ratchet tree; without one, ts-mls would still encode and sign a
      // GroupInfo carrying the whole tree and throw it away (tens of ms at 1,000 members).
      const adds = [...extraProposals, ...Object.values(state.unappliedProposals).map((p) => p.proposal)].some((p) => p.proposalType === "add");
      let result: Awaited<ReturnType<typeof createCommit>>;
      try {
        result = await createCommit({ state, cipherSuite: padded }, { extraProposals, ratchetTreeExtension: adds });
      } catch (error) {
        throw toMlsError(error, "bad_request");
      }
      // createCommit used a handshake generation of this epoch without recording it in the current
      // state; record it, so a commit rebuilt on this same epoch never reuses that key and nonce.
      const ownNode = leafToNodeIndex(toLeafIndex(state.privatePath.leafIndex));
      const advanced = await consumeRatchet(state.secretTree, ownNode, "commit", this.cs);
      const current: ClientState = { ...state, secretTree: advanced.newTree };
      const pending: PendingCommit = {
        commit: encodeMlsMessage(result.commit),
        welcome: result.welcome && encodeWelcomeMessage(result.welcome),
        newState: result.newState,
        consumed: [...result.consumed, ...advanced.consumed],
      };
      this.apply({
        channel,
        state: stateRecord(current),
        pending: { commit: pending.commit, welcome: pending.welcome, newState: encodeState(pending.newState) },
      });
      entry.state = current;
      entry.pending = pending;
      const { groupId, epoch } = state.groupContext;
      const proof = proveCommit(groupId, epoch, pending.commit, await this.commitKeySeed(state), await this.commitKeySeed(pending.newState));
      return { channel, epoch, commit: pending.commit, welcome: pending.welcome, proof };
    });
  }

  /** The seed of an epoch's commit key: only members of that epoch can compute it. */
  private commitKeySeed(state: ClientState): Promise<Uint8Array> {
    return mlsExporter(state.keySchedule.exporterSecret, COMMIT_KEY_EXPORTER_LABEL, new Uint8Array(0), COMMIT_KEY_BYTES, this.cs);
  }

  private confirmPending(entry: GroupEntry, cursor = entry.cursor): void {
    const { pending } = entry;
    if (pending === undefined) throw new MlsError("no_pending_commit", `no commit pending on '${entry.channel}'`);
    // The pending state's copy of the old epoch's receive keys dates from when the commit was
    // built; messages processed since then advanced them. Take the current ones.
    const [historicalReceiverData] = addHistoricalReceiverData(entry.state);
    const state: ClientState = { ...pending.newState, historicalReceiverData };
    this.apply({ channel: entry.channel, state: stateRecord(state), pending: null, cursor });
    entry.state = state;
    entry.cursor = cursor;
    entry.pending = undefined;
    pending.consumed.forEach(zeroOutUint8Array);
  }

  private rememberSent(message: Uint8Array, epoch: bigint): void {
    if (this.unechoed.size >= MAX_UNECHOED) this.unechoed.delete(this.unechoed.keys().next().value as string);
    this.unechoed.set(messageDigest(message), epoch);
  }

  private async receiveOne(entry: GroupEntry, bytes: Uint8Array, seq: number | undefined): Promise<ReceiveOutcome> {
    const { channel } = entry;
    const key = this.unechoed.size > 0 ? messageDigest(bytes) : undefined;
    const ownEpoch = key === undefined ? undefined : this.unechoed.get(key);
    if (key !== undefined && ownEpoch !== undefined) {
      // Our own message, echoed: the relay archives only what members can still read (it refuses
      // stale epochs), so there is nothing to learn from decrypting it.
      this.unechoed.delete(key);
      this.persist(entry, { cursor: nextCursor(entry, seq) }, []);
      return { kind: "own", channel, seq, epoch: ownEpoch };
    }
    if (entry.pending !== undefined && bytesEqual(entry.pending.commit, bytes)) {
      this.confirmPending(entry, nextCursor(entry, seq));
      return { kind: "commit", channel, seq, epoch: entry.state.groupContext.epoch, own: true, removed: false, pendingDiscarded: false };
    }
    const message = decodeMessage(bytes);
    if (message.wireformat !== "mls_private_message") {
      throw new MlsError("bad_message", "only PrivateMessages are accepted in a channel");
    }
    const pm = message.privateMessage;
    if (!bytesEqual(pm.groupId, entry.state.groupContext.groupId)) throw new MlsError("bad_message", "message for another group");
    if (pm.epoch > entry.state.groupContext.epoch) return this.buffer(entry, pm, bytes, seq);
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
      senderData = await decryptSenderData(pm, epochData.senderDataSecret, this.cs);
    } catch (error) {
      throw toMlsError(error);
    }
    if (senderData === undefined) throw new MlsError("decryption_failure", "could not decrypt the sender data");
    if (this.observeSender !== undefined) {
      const tree = epochData.ratchetTree;
      const members = tree.flatMap((_, node) => (node % 2 === 0 && leafAt(tree, node / 2) !== undefined ? [memberAt(tree, node / 2).name] : []));
      this.observeSender({ channel, epoch: pm.epoch, contentType: pm.contentType, leafIndex: senderData.leafIndex, generation: senderData.generation, members, message: pm });
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
      this.persist(entry, { cursor, bufferRemove }, []);
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
      result = await processPrivateMessage(state, pm, makePskIndex(state, {}), this.cs, policy);
    } catch (error) {
      throw toMlsError(error);
    }
    if (forbidden !== undefined) throw new MlsError("bad_message", `'${forbidden}' proposals are not allowed in skytale channels`);
    if (result.kind === "applicationMessage") {
      if (sender === undefined) throw new MlsError("decryption_failure", "application message without a verified sender");
      const payloads = unpackPayloads(result.message);
      const receivedAt = this.clock();
      const inbox = payloads.filter(this.keepInInbox).map((plaintext) => ({
        channel, seq, epoch: pm.epoch, sender: sender.name, senderFingerprint: sender.fingerprint, plaintext, receivedAt,
      }));
      this.persist(entry, { state: result.newState, cursor, inbox, bufferRemove }, result.consumed);
      return { kind: "application", channel, seq, epoch: pm.epoch, sender, payloads };
    }
    if (pm.contentType === "proposal") {
      this.apply({ channel, state: stateRecord(result.newState), cursor, bufferRemove });
      this.advance(entry, result.newState, cursor, result.consumed);
      return { kind: "proposal", channel, seq, epoch: pm.epoch };
    }
    assertSameIdentities(state.ratchetTree, result.newState.ratchetTree);
    assertUniqueNames(result.newState);
    const pendingDiscarded = entry.pending !== undefined;
    const epoch = pm.epoch + 1n;
    if (result.newState.groupActiveState.kind === "removedFromGroup") {
      // Out of the group: forget its keys at once (forward secrecy); the inbox keeps what was read.
      this.apply({ channel, state: null });
      entry.pending = undefined;
      this.groups.delete(channel);
      result.consumed.forEach(zeroOutUint8Array);
      return { kind: "commit", channel, seq, epoch, own: false, removed: true, pendingDiscarded };
    }
    this.apply({ channel, state: stateRecord(result.newState), cursor, pending: null, bufferRemove });
    // Only now: if the write above failed, the pending commit must still be ours to recognise.
    entry.pending = undefined;
    this.advance(entry, result.newState, cursor, result.consumed);
    return { kind: "commit", channel, seq, epoch, own: false, removed: false, pendingDiscarded };
  }

  private advance(entry: GroupEntry, state: ClientState, cursor: number, consumed: Uint8Array[]): void {
    entry.state = state;
    entry.cursor = cursor;
    consumed.forEach(zeroOutUint8Array);
  }

  private buffer(entry: GroupEntry, pm: PrivateMessage, bytes: Uint8Array, seq: number | undefined): ReceiveOutcome {
    if (pm.epoch > entry.state.groupContext.epoch + MAX_EPOCHS_AHEAD) {
      throw new MlsError("epoch_mismatch", `message for epoch ${pm.epoch}, too far ahead of ${entry.state.groupContext.epoch}`);
    }
    if (this.port.countBuffered(entry.channel) >= MAX_BUFFERED_PER_CHANNEL) {
      throw new MlsError("buffer_full", `too many messages for future epochs on '${entry.channel}'`);
    }
    // The cursor stays: what leads to this epoch may still come with a lower seq.
    this.apply({ channel: entry.channel, bufferAdd: [{ channel: entry.channel, epoch: pm.epoch, seq, message: bytes }] });
    return { kind: "buffered", channel: entry.channel, seq, epoch: pm.epoch };
  }

  /** Processes buffered messages that the new epoch made readable, in arrival order. */
  private async drainBuffered(entry: GroupEntry): Promise<ReceiveOutcome[]> {
    const outcomes: ReceiveOutcome[] = [];
    while (this.port.countBuffered(entry.channel) > 0) {
      const epoch = entry.state.groupContext.epoch;
      const ready = this.port.loadBuffered(entry.channel).find((b) => b.epoch <= epoch);
      if (ready === undefined) return outcomes;
      const { seq } = ready;
      try {
        const message = decodeMessage(ready.message);
        if (message.wireformat !== "mls_private_message") throw new MlsError("bad_message", "corrupt buffered message");
        const outcome = await this.process(entry, message.privateMessage, seq, ready.id);
        // The row's removal may sit in a receiveAll batch: store it before the rows are read again.
        this.flushDeferred(entry);
        outcomes.push(outcome);
        if (outcome.kind === "commit" && outcome.removed) return outcomes;
      } catch (error) {
        if (!(error instanceof MlsError)) throw error;
        this.apply({ channel: entry.channel, bufferRemove: [ready.id] });
        outcomes.push({ kind: "rejected", channel: entry.channel, seq, epoch: ready.epoch, code: error.code });
      }
    }
    return outcomes;
  }

  private info(entry: GroupEntry): ChannelInfo {
    const { state } = entry;
    return {
      channel: entry.channel,
      groupId: state.groupContext.groupId,
      epoch: state.groupContext.epoch,
      members: membersOf(state),
      epochAuthenticator: state.keySchedule.epochAuthenticator,
      pendingCommit: entry.pending !== undefined,
      pendingProposals: Object.keys(state.unappliedProposals).length,
    };
  }

  private activeEntry(channel: string): GroupEntry {
    const entry = this.load(channel);
    if (entry.state.groupActiveState.kind !== "active") {
      throw new MlsError("not_member", `this agent is no longer a member of '${channel}'`);
    }
    return entry;
  }

  /** The cached group, decoding it from the store on first use (decoding is the slow part). */
  private load(channel: string): GroupEntry {
    const cached = this.groups.get(channel);
    if (cached !== undefined) return cached;
    const stored = this.port.loadGroup(channel);
    if (stored === undefined) throw new MlsError("not_found", `no channel '${channel}' on this agent`);
    const entry = decodeEntry(stored);
    this.groups.set(channel, entry);
    return entry;
  }

  private nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }
}

/**
 * Zeroes a used secret. ts-mls's zeroOutUint8Array first fills the buffer from the CSPRNG, a
 * call per buffer that shows in the per-message profile; fill(0) on a buffer other code still
 * references cannot be optimised away.
 */
function wipe(secret: Uint8Array): void {
  secret.fill(0);
}

/** Cursors only move forward: a buffered message processed late must not rewind them. */
function nextCursor(entry: GroupEntry, seq: number | undefined): number {
  return seq === undefined ? entry.cursor : Math.max(seq, entry.cursor);
}

function stateRecord(state: ClientState): { groupId: Uint8Array; epoch: bigint; blob: Uint8Array } {
  return { groupId: state.groupContext.groupId, epoch: state.groupContext.epoch, blob: encodeState(state) };
}

function decodeState(blob: Uint8Array): ClientState {
  const decoded = decodeGroupState(blob, 0);
  if (decoded === undefined) throw new MlsError("bad_message", "stored group state does not decode");
  return { ...decoded[0], clientConfig };
}

function decodeEntry(stored: StoredGroup): GroupEntry {
  const pending = stored.pending && {
    commit: stored.pending.commit,
    welcome: stored.pending.welcome,
    newState: decodeState(stored.pending.newState),
    consumed: [],
  };
  return { channel: stored.channel, state: decodeState(stored.state), cursor: stored.cursor, pending };
}

function channelNameOf(state: ClientState): string {
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
