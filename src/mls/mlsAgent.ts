import { createGroup, zeroOutUint8Array, type CiphersuiteImpl, type ClientState } from "ts-mls";
import { channelOpenBytes } from "../wire/channelOpen.js";
import { commitKeyPair } from "../wire/commitProof.js";
import { assertChannelName, nameOfHandle, suffixedHandle } from "./channelName.js";
import { Committer, commitKeySeed, type OutgoingCommit } from "./commits.js";
import { didKeyOf, safetyCodeOf } from "./didKey.js";
import { MlsError } from "./errors.js";
import { toMlsError } from "./errorMapping.js";
import { FutureEpochs } from "./futureEpochs.js";
import { GroupCache } from "./groupCache.js";
import { channelNameOf, describe, type ChannelInfo } from "./groupEntry.js";
import { creatorOf, makeGenesis, type Creator } from "./genesis.js";
import { assertAgentName, linkProverOf, type Identity, type MemberIdentity } from "./identity.js";
import { CHANNEL_NAME_EXTENSION, createKeyPackage, decodePrivateKeys } from "./keyPackages.js";
import { assertUniqueNames, memberAt, membersOf, type Member } from "./members.js";
import { decodeKeyPackageMessage, decodeWelcomeMessage } from "./messages.js";
import type { ReceiveOutcome } from "./outcomes.js";
import { Receiver, type IncomingFrame, type SenderSeen } from "./receiving.js";
import { Sealer, type Payload, type SealedMessage } from "./sealing.js";
import { SentEchoes } from "./sentEchoes.js";
import { joinFromWelcome } from "./welcomeJoin.js";
import { StoreError } from "../store/errors.js";
import type { MlsStatePort, StoredKeyPackage } from "../store/records.js";
import { clientConfig, loadCiphersuite } from "./suite.js";

/** A last-resort key package living less than this is replaced (and published) by a fresh one. */
const LAST_RESORT_RENEWAL_SECONDS = 7 * 24 * 3600;

export type { ChannelInfo } from "./groupEntry.js";
export type { Creator } from "./genesis.js";
export type { OutgoingCommit } from "./commits.js";
export type { ReceiveOutcome } from "./outcomes.js";
export type { IncomingFrame, SenderSeen } from "./receiving.js";
export { MAX_BATCH, type Payload, type SealedMessage } from "./sealing.js";
export { MAX_BUFFERED_PER_CHANNEL, MAX_EPOCHS_AHEAD } from "./futureEpochs.js";

/** What a Welcome would open, and who sent it. */
export interface WelcomePreview {
  readonly groupId: Uint8Array;
  readonly name: string;
  readonly epoch: bigint;
  readonly creator: Creator | undefined;
  /** The member whose commit added this agent (it signed the Welcome's GroupInfo). */
  readonly adder: MemberIdentity;
  readonly members: Member[];
}

/** What the relay needs to open a new channel for its creator (wire/channelOpen.ts). */
export interface ChannelOpening {
  readonly channel: Uint8Array;
  readonly nonce: Uint8Array;
  readonly commitKey: Uint8Array;
  readonly signature: Uint8Array;
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

/**
 * One agent's MLS engine: its identity, key packages and one group per channel. Every operation
 * on a channel runs under that channel's lock, and every new state reaches the store (through
 * MlsStatePort.apply, atomically with whatever else the step produced) before any ciphertext is
 * returned to the caller. The concerns live in their own files: the group cache and its writes
 * (groupCache.ts), sealing (sealing.ts), receiving (receiving.ts) and the future-epoch buffer
 * (futureEpochs.ts), commits (commits.ts).
 */
export class MlsAgent {
  private readonly groups: GroupCache;
  private readonly sealer: Sealer;
  private readonly receiver: Receiver;
  private readonly committer: Committer;

  private constructor(
    readonly identity: Identity,
    private readonly port: MlsStatePort,
    private readonly cs: CiphersuiteImpl,
    private readonly clock: () => number,
    options: Pick<MlsAgentOptions, "keepInInbox" | "observeSender">,
  ) {
    this.groups = new GroupCache(port);
    const echoes = new SentEchoes();
    this.sealer = new Sealer(this.groups, cs, echoes);
    this.receiver = new Receiver(this.groups, new FutureEpochs(port, this.groups), echoes, {
      cs,
      clock,
      keepInInbox: options.keepInInbox ?? (() => true),
      observeSender: options.observeSender,
    });
    this.committer = new Committer(this.groups, cs, () => this.nowSeconds());
  }

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
    return new MlsAgent(identity, options.port, cs, clock, options);
  }

  /** The agent's identity key as a did:key. */
  get did(): string {
    return didKeyOf(this.identity.signaturePublicKey);
  }

  /** The agent's safety code, for people to read aloud and compare. */
  get safetyCode(): string {
    return safetyCodeOf(this.identity.signaturePublicKey);
  }

  /** Signs a relay link's binding (wire/linkAuth.ts): the link then speaks for this agent's key. */
  proveLink(binding: Uint8Array): Promise<Uint8Array> {
    return linkProverOf(this.identity).prove(binding);
  }

  /** A fresh single-use key package (encoded MLSMessage); its private half stays in the store. */
  async createKeyPackage(): Promise<Uint8Array> {
    const fresh = await createKeyPackage(this.identity, this.cs, this.nowSeconds());
    this.port.saveKeyPackage(fresh.stored);
    return fresh.stored.publicPackage;
  }

  /**
   * This agent's last-resort key package (RFC 9420 §16.8): the one it holds while that lives at
   * least LAST_RESORT_RENEWAL_SECONDS more, else a fresh one. A join with it keeps it (the relay
   * hands it out again once the single-use packages are gone), so members can always add this agent.
   */
  async lastResortKeyPackage(): Promise<Uint8Array> {
    const held = this.port.lastResortKeyPackage();
    if (held !== undefined && held.notAfter - this.nowSeconds() >= LAST_RESORT_RENEWAL_SECONDS) return held.publicPackage;
    const fresh = await createKeyPackage(this.identity, this.cs, this.nowSeconds());
    this.port.saveKeyPackage({ ...fresh.stored, lastResort: true });
    return fresh.stored.publicPackage;
  }

  /** Channels this agent holds a group for. */
  channels(): string[] {
    return this.port.listChannels();
  }

  /**
   * Creates the group for a new channel with this agent as its only member and creator (its id
   * made from this agent's key, genesis.ts), and the opening the relay needs before anything else.
   */
  async createChannel(channel: string): Promise<ChannelInfo & { opening: ChannelOpening }> {
    assertChannelName(channel);
    return this.groups.locked(channel, async () => {
      if (this.channels().some((held) => nameOfHandle(held) === channel)) {
        throw new MlsError("already_exists", `channel '${channel}' exists on this agent already`);
      }
      const own = await createKeyPackage(this.identity, this.cs, this.nowSeconds());
      const name = { extensionType: CHANNEL_NAME_EXTENSION, extensionData: new TextEncoder().encode(channel) };
      const genesis = await makeGenesis(this.identity, channel, this.cs);
      const state = await createGroup(genesis.groupId, own.keyPackage, own.privateKeys, [name, genesis.extension], this.cs, clientConfig);
      zeroOutUint8Array(own.privateKeys.initPrivateKey);
      const commitKey = commitKeyPair(await commitKeySeed(state, this.cs)).publicKey;
      const signature = await this.cs.signature.sign(this.identity.signaturePrivateKey, channelOpenBytes(genesis.groupId, genesis.nonce, commitKey));
      const info = describe(this.groups.install(channel, state, -1));
      return { ...info, opening: { channel: genesis.groupId, nonce: genesis.nonce, commitKey, signature } };
    });
  }

  /**
   * What a Welcome opens, checked as a join checks it (tree, signatures, the channel's genesis),
   * without joining or using up its key package: for a person to decide whether to join.
   */
  async previewWelcome(welcomeBytes: Uint8Array): Promise<WelcomePreview> {
    const opened = await this.openWelcome(welcomeBytes);
    const { state } = opened;
    return { groupId: state.groupContext.groupId, name: opened.name, epoch: state.groupContext.epoch, creator: opened.creator, adder: opened.adder, members: membersOf(state) };
  }

  /**
   * Joins the group a Welcome opens, using (and deleting) the key package it was made for. With
   * `keepKeyPackage` the key package stays until consumeKeyPackage(): a Welcome the relay should
   * not have released (its commit lost) may be followed by the right one for the same package.
   * A group this agent holds already is already_exists; a second channel of a name it holds gets
   * the handle name#id.
   */
  async join(welcomeBytes: Uint8Array, cursor = -1, options: { keepKeyPackage?: boolean } = {}): Promise<ChannelInfo & { keyPackageRef: Uint8Array; adder: MemberIdentity }> {
    const { state, name, stored, adder } = await this.openWelcome(welcomeBytes);
    const { groupId } = state.groupContext;
    const held = this.port.findGroup(groupId);
    if (held !== undefined) throw new MlsError("already_exists", `this agent holds the group of '${held}' already`);
    // Names are labels anyone can pick: a second channel of a name gets a handle of its own.
    const channel = this.channels().includes(name) ? suffixedHandle(name, groupId) : name;
    return this.groups.locked(channel, async () => {
      this.groups.assertAbsent(channel);
      try {
        const entry = this.groups.install(channel, state, cursor, options.keepKeyPackage ? undefined : stored.ref);
        return { ...describe(entry), keyPackageRef: stored.ref, adder };
      } catch (error) {
        if (error instanceof StoreError && error.code === "conflict") {
          throw new MlsError("unknown_key_package", "the key package this Welcome uses was used already");
        }
        throw error;
      }
    });
  }

  /** Opens a Welcome with the key package it was made for and checks what it opens. */
  private async openWelcome(welcomeBytes: Uint8Array): Promise<{ state: ClientState; name: string; stored: StoredKeyPackage; adder: MemberIdentity; creator: Creator | undefined }> {
    const welcome = decodeWelcomeMessage(welcomeBytes);
    const stored = welcome.secrets.map((s) => this.port.loadKeyPackage(s.newMember)).find((kp) => kp !== undefined);
    if (stored === undefined) {
      throw new MlsError("unknown_key_package", "this Welcome is not for any unused key package of this agent");
    }
    if (stored.notAfter < this.nowSeconds()) throw new MlsError("expired_key_package", "the key package this Welcome uses has expired");
    const privateKeys = decodePrivateKeys(stored.privatePackage, this.identity);
    try {
      let joined: { state: ClientState; signer: number };
      try {
        joined = await joinFromWelcome(welcome, decodeKeyPackageMessage(stored.publicPackage), privateKeys, this.cs, clientConfig);
      } catch (error) {
        throw toMlsError(error, "invalid_welcome");
      }
      const { state } = joined;
      assertUniqueNames(state);
      const name = channelNameOf(state);
      const creator = await creatorOf(state, name, this.cs);
      return { state, name, stored, adder: memberAt(state.ratchetTree, joined.signer), creator };
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
    return this.groups.locked(channel, async () => {
      this.groups.load(channel);
      const bufferRemove = this.port.loadBuffered(channel).map((b) => b.id);
      this.port.apply({ channel, state: null, pending: null, bufferRemove });
      this.groups.evict(channel);
    });
  }

  /**
   * Encrypts an application message; the new state is stored before the ciphertext is returned.
   * `payload` may depend on what every member reads (see Payload).
   */
  async encrypt(channel: string, payload: Payload): Promise<Uint8Array> {
    return (await this.sealer.enqueue(channel, payload, false)).bytes;
  }

  /**
   * Like encrypt, but the payload may travel in one message with other sealed payloads queued next
   * to it (when every member can read packed messages): the callers then get the same object, and
   * it is sent once for all of them.
   */
  seal(channel: string, payload: Payload): Promise<SealedMessage> {
    return this.sealer.enqueue(channel, payload, true);
  }

  /** A commit adding the agents whose key packages (encoded MLSMessages) are given. */
  addMembers(channel: string, keyPackages: readonly Uint8Array[]): Promise<OutgoingCommit> {
    return this.committer.addMembers(channel, keyPackages);
  }

  /** A commit removing every leaf of the named members. */
  removeMembers(channel: string, names: readonly string[]): Promise<OutgoingCommit> {
    return this.committer.removeMembers(channel, names);
  }

  /**
   * A commit with a fresh UpdatePath: new keys for this agent (post-compromise security). Like
   * every commit, it also commits the proposals received so far (such as another member's leave).
   */
  selfUpdate(channel: string): Promise<OutgoingCommit> {
    return this.committer.commit(channel, () => []);
  }

  /** A commit of the proposals received so far; bad_request when there are none. */
  commitPendingProposals(channel: string): Promise<OutgoingCommit> {
    return this.committer.commitPendingProposals(channel);
  }

  /**
   * A proposal to remove this agent. Another member commits it (commitPendingProposals); this
   * agent learns it is out when it processes that.
   */
  proposeLeave(channel: string): Promise<Uint8Array> {
    return this.committer.proposeLeave(channel);
  }

  /**
   * The relay accepted our pending commit: it becomes the current state. Returns the outcomes of
   * buffered messages the new epoch made readable.
   */
  confirmCommit(channel: string): Promise<ReceiveOutcome[]> {
    return this.groups.locked(channel, async () => {
      const entry = this.groups.load(channel);
      this.groups.confirmPending(entry);
      return this.receiver.drain(entry);
    });
  }

  /** The commit this agent built that the relay has not answered, with the identity keys it adds; undefined when none. */
  pendingCommit(channel: string): Promise<(OutgoingCommit & { added: Uint8Array[] }) | undefined> {
    return this.committer.pendingCommit(channel);
  }

  /** The relay rejected our pending commit: drop it; rebuild on the newer epoch once processed. */
  discardCommit(channel: string): Promise<void> {
    return this.committer.discardCommit(channel);
  }

  /**
   * Processes one message of the channel's relay stream. `seq` is the relay's sequence number;
   * one not above the channel's cursor is a duplicate and changes nothing. Messages for a future
   * epoch are kept and processed when that epoch is reached; their outcomes follow the first.
   */
  receive(channel: string, bytes: Uint8Array, seq?: number): Promise<ReceiveOutcome[]> {
    return this.groups.locked(channel, async () => this.receiver.receive(this.groups.load(channel), bytes, seq));
  }

  /**
   * Processes consecutive frames of one channel's stream, in order, like `receive` each, but
   * application messages (and our own echoes) are stored together in one transaction. Returns the
   * outcomes of the frames processed: it stops before the first frame refused with an MlsError
   * (left unconsumed, for the caller to handle alone) or once the group is gone.
   */
  receiveAll(channel: string, frames: readonly IncomingFrame[]): Promise<ReceiveOutcome[][]> {
    return this.groups.locked(channel, async () => this.receiver.receiveAll(this.groups.load(channel), frames));
  }

  /**
   * Moves the channel's cursor past a frame that cannot be processed (it was refused with an
   * MlsError, or is not an MLS message for us), so that a resumed stream does not bring it back.
   */
  skip(channel: string, seq: number): Promise<void> {
    return this.groups.locked(channel, async () => {
      const entry = this.groups.load(channel);
      if (seq <= entry.cursor) return;
      this.groups.apply({ channel, cursor: seq });
      entry.cursor = seq;
    });
  }

  /** The channel's current epoch, from the cached group; cheaper than channelInfo (no lock, no member list). */
  epochOf(channel: string): bigint {
    return this.groups.load(channel).state.groupContext.epoch;
  }

  /** Current epoch, members and pending status of a channel. */
  channelInfo(channel: string): Promise<ChannelInfo> {
    return this.groups.locked(channel, async () => describe(this.groups.load(channel)));
  }

  private nowSeconds(): number {
    return Math.floor(this.clock() / 1000);
  }
}
