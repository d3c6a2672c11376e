import { MlsError } from "../mls/errors.js";
import { bytesEqual } from "../mls/identity.js";
import { decodeWelcomeMessage } from "../mls/messages.js";
import type { ChannelInfo, WelcomePreview } from "../mls/mlsAgent.js";
import type { EnvelopeOf } from "../wire/envelope.js";
import type { Contacts } from "./contacts.js";
import { hex, stateOf, type Core } from "./core.js";
import { toAgentError } from "./errors.js";
import { ForkWatch } from "./forkWatch.js";
import { HeldWelcomes } from "./heldWelcomes.js";
import type { KeyPackageSupply } from "./keyPackageSupply.js";
import type { Offers } from "./offers.js";
import type { Inviter, PendingJoins } from "./pendingJoins.js";
import type { RelayStream } from "./relayStream.js";
import { AgentError, type JoinResult } from "./types.js";

/** Setting holding the key package (hex ref) of a provisional join of a channel; empty once settled. */
const PROVISIONAL = "provisional_join:";

/** What came of a Welcome. */
type JoinOutcome = { readonly kind: "joined"; readonly info: ChannelInfo } | { readonly kind: "held" } | { readonly kind: "refused"; readonly error: MlsError };

/**
 * Joining by Welcome. Every Welcome is opened and checked first; one this agent asked for with an
 * invite must have the inviter among its members, one it did not ask for is joined only when a
 * contact sent it (the rest wait as offers, offers.ts). A Welcome from the inbox joins
 * provisionally (its key package is kept) until another member's frame verifies: the relay could
 * have released a Welcome whose commit lost, and a commit at this agent's epoch that it cannot
 * read undoes such a join (a frame anyone can post cannot). A Welcome for a group still held
 * waits (heldWelcomes.ts) until the removal it follows is applied. Owns the provisional and split
 * state of channels and the held Welcomes; the joins this agent asked for are PendingJoins'.
 */
export class WelcomeJoins {
  private readonly forks = new ForkWatch();
  private readonly held: HeldWelcomes;

  constructor(
    private readonly core: Core,
    private readonly stream: RelayStream,
    private readonly keyPackages: KeyPackageSupply,
    private readonly contacts: Contacts,
    private readonly offers: Offers,
    private readonly pending: PendingJoins,
    /** Ends this agent's following of a channel whose group is gone (every part forgets it). */
    private readonly forgetChannel: (channel: string) => void,
  ) {
    this.held = new HeldWelcomes(core.store);
  }

  /** On start, after every held group is followed again: provisional joins, and held Welcomes whose removal was applied. */
  restore(channels: readonly string[]): void {
    for (const channel of channels) {
      const provisional = this.core.store.setting(PROVISIONAL + channel);
      if (provisional) this.forks.joinedProvisionally(channel, new Uint8Array(Buffer.from(provisional, "hex")));
    }
    // A held Welcome whose group is gone: the removal was applied, the join it waited for was not.
    for (const groupHex of this.held.groups()) {
      if (this.core.channels.channelOf(groupHex) === undefined) this.rejoinHeld(groupHex, undefined);
    }
  }

  /** A Welcome from the inbox. */
  async welcome(e: EnvelopeOf<"GroupWelcome">): Promise<void> {
    const { mls, log, config } = this.core;
    const groupHex = hex(e.channel);
    let preview: WelcomePreview;
    try {
      preview = await mls.previewWelcome(e.welcome);
    } catch (error) {
      if (!(error instanceof MlsError)) throw error;
      // MlsError messages carry no key or plaintext (errorMapping.ts); the reason is what an operator needs.
      return log(`ignored a Welcome: ${error.code}: ${error.message}`);
    }
    const inviter = this.pending.expectedInviter(groupHex);
    if (inviter !== undefined) return this.joinInvited(e, preview, inviter);
    const policy = config.directoryAdds ?? "contacts";
    if (policy === "none") return log("ignored a Welcome this agent did not ask for (directory adds are off: SKYTALE_ACCEPT_DIRECTORY_ADDS=none)");
    const trust = this.contacts.trustOf(preview.adder.name, preview.adder.signaturePublicKey);
    if (policy === "all" || trust === "verified" || trust === "pinned") {
      await this.joinLogged(e.welcome, Number(e.commitSeq), groupHex);
      return;
    }
    this.offers.hold(e.channel, e.welcome, Number(e.commitSeq), preview);
  }

  /** Joins a channel someone offered, after this agent said yes; on the stream, in order with it. */
  acceptOffer(welcome: Uint8Array, commitSeq: number, groupHex: string): Promise<ChannelInfo> {
    return new Promise((resolve, reject) =>
      this.stream.enqueue(async () => {
        try {
          const outcome = await this.join(welcome, commitSeq, groupHex);
          if (outcome.kind === "joined") resolve(outcome.info);
          else if (outcome.kind === "held") reject(new AgentError("already_exists", "this agent is in that channel already"));
          else reject(outcome.error);
        } catch (error) {
          reject(error);
        }
      }),
    );
  }

  /** Another member's frame was readable at our epoch: a provisional join was real. */
  confirm(channel: string): void {
    if (!this.forks.isProvisional(channel)) return;
    const keyPackage = this.forks.confirm(channel);
    if (keyPackage === undefined) return;
    const groupHex = this.core.channels.groupOf(channel);
    if (groupHex !== undefined) this.held.drop(groupHex);
    this.core.mls.consumeKeyPackage(keyPackage);
    this.core.store.setSetting(PROVISIONAL + channel, "");
  }

  /**
   * The relay serves, at this agent's own epoch, a frame it cannot read, even when fetched again:
   * the members' views may have split (a commit shown to some and not others), or a non-member
   * posted it. Only a commit counts as evidence against a provisional join: the relay accepts a
   * commit only with a proof from the epoch's members (wire/commitProof.ts), while a message or a
   * proposal can come from anyone. A join no other member has confirmed is then undone (its
   * Welcome was for a commit that did not win), and a Welcome held back meanwhile takes its place.
   */
  async forkEvidence(channel: string, seq: number, commit: boolean): Promise<void> {
    const { warnings, mls } = this.core;
    const groupHex = this.core.channels.groupOf(channel);
    const stashed = groupHex === undefined ? undefined : this.held.get(groupHex);
    if (!commit) {
      const joinStands = this.forks.isProvisional(channel) ? "; a frame anyone can post does not end this agent's join" : "";
      return warnings.warn(
        channel,
        "fork_suspected",
        `frame ${seq} is at this agent's epoch but cannot be read, even when fetched again: a non-member's frame, or the relay showing members different commits${joinStands}; if it goes on, have a member remove this agent and add it again`,
        seq,
      );
    }
    this.forks.markForked(channel);
    if (groupHex !== undefined && stashed !== undefined) this.held.drop(groupHex);
    if (!this.forks.isProvisional(channel) && stashed === undefined) {
      return warnings.warn(
        channel,
        "fork_suspected",
        `the commit at seq ${seq} is at this agent's epoch but cannot be read, even when fetched again: the relay may be showing members different commits; if it goes on, have a member remove this agent and add it again`,
        seq,
      );
    }
    await mls.abandon(channel);
    this.forgetChannel(channel);
    warnings.warn(channel, "half_joined", `the Welcome this agent joined with was for a commit the other members do not have; the channel was left${stashed ? " and joined again with a newer Welcome" : " until a member adds this agent again"}`, seq);
    if (stashed !== undefined) await this.joinLogged(stashed.welcome, stashed.commitSeq);
  }

  /**
   * This agent was removed by the commit at `removedAt` (of the group `groupHex`): a Welcome that
   * came while it still held the group, for an add ordered after that commit, joins it again,
   * next in the stream.
   */
  rejoinHeld(groupHex: string, removedAt: number | undefined): void {
    const held = this.held.get(groupHex);
    if (held === undefined) return;
    if (removedAt !== undefined && held.commitSeq <= removedAt) return this.held.drop(groupHex);
    // Dropped only once joined: a crash before that finds it again on start.
    this.stream.enqueue(() =>
      this.stream.untilStored(async () => {
        await this.joinLogged(held.welcome, held.commitSeq, groupHex);
        this.held.drop(groupHex);
      }),
    );
  }

  /** Joins with a Welcome from the manual key-package flow; `channel` must be the one it opens. */
  async joinManually(channel: string, welcome: Uint8Array): Promise<JoinResult> {
    const { mls, channels } = this.core;
    decodeWelcomeMessage(welcome);
    let info: Awaited<ReturnType<typeof mls.join>>;
    try {
      info = await mls.join(welcome);
    } catch (error) {
      // The same Welcome also reached our relay inbox; if that copy won, we are in already.
      const raced = error instanceof MlsError && (error.code === "unknown_key_package" || error.code === "already_exists");
      if (raced && mls.channels().includes(channel)) return { status: "joined" as const, ...(await this.core.state(channel)) };
      throw error;
    }
    this.stream.joinedAt(info.channel, info.epoch);
    channels.adopt(info.channel, info.groupId, -1);
    if (info.name !== channel) {
      throw new AgentError("bad_request", `that Welcome opens '${info.name}', not '${channel}' (joined '${info.channel}' anyway)`);
    }
    return { status: "joined" as const, ...stateOf(info.channel, info) };
  }

  forget(channel: string): void {
    if (this.forks.isProvisional(channel)) this.core.store.setSetting(PROVISIONAL + channel, "");
    this.forks.forget(channel);
  }

  /**
   * The Welcome for a join this agent asked for: the group must have the inviter in it, and the
   * genesis of the creator the invite names (a leaked invite lets its holder join, but not stand
   * in for the inviter or make a group of its own look like the channel). Joined, the inviter and
   * the other members are pinned as contacts where their names are new.
   */
  private async joinInvited(e: EnvelopeOf<"GroupWelcome">, preview: WelcomePreview, inviter: Inviter): Promise<void> {
    const groupHex = hex(e.channel);
    const hasInviter = preview.members.some((m) => m.name === inviter.name && bytesEqual(m.signaturePublicKey, inviter.key));
    const sameCreator = inviter.creator === undefined || (preview.creator !== undefined && bytesEqual(preview.creator.key, inviter.creator));
    if (!hasInviter || !sameCreator) {
      const error = new AgentError(
        "identity_mismatch",
        `the channel this invite admitted you to is not the one '${inviter.name}' invited you to (${hasInviter ? "another creator" : "the inviter is not in it"}): someone else used the invite to stand in for them; ask ${inviter.name} for a new invite`,
      );
      this.pending.refuse(groupHex, error, false);
      this.core.log(`refused a Welcome for an invite: ${error.message}`);
      return this.core.progress.wake();
    }
    const outcome = await this.joinLogged(e.welcome, Number(e.commitSeq), groupHex);
    if (outcome.kind === "refused") {
      this.pending.refuse(groupHex, toAgentError(outcome.error), false);
      this.core.progress.wake();
    }
    if (outcome.kind !== "joined") return;
    this.pending.joined(groupHex);
    const { channel } = outcome.info;
    const self = this.core.mls.identity.signaturePublicKey;
    for (const m of preview.members) {
      if (!bytesEqual(m.signaturePublicKey, self)) this.contacts.learn(m.name, m.signaturePublicKey, m.name === inviter.name ? "invite" : "channel", channel);
    }
  }

  /** Joins, logging (not throwing) why a Welcome was not used. */
  private async joinLogged(welcome: Uint8Array, commitSeq: number, groupHex?: string): Promise<JoinOutcome> {
    const outcome = await this.join(welcome, commitSeq, groupHex);
    // MlsError messages carry no key or plaintext (errorMapping.ts); the reason is what an operator needs.
    if (outcome.kind === "refused") this.core.log(`ignored a Welcome: ${outcome.error.code}: ${outcome.error.message}`);
    return outcome;
  }

  /**
   * Joins with a Welcome, provisionally. A Welcome for a group held already waits, unless that
   * group is known to have split from the others'.
   */
  private async join(welcome: Uint8Array, commitSeq: number, groupHex?: string): Promise<JoinOutcome> {
    const { mls, channels, store, log } = this.core;
    const heldChannel = groupHex === undefined ? undefined : channels.channelOf(groupHex);
    if (heldChannel !== undefined && this.forks.isForked(heldChannel)) {
      await mls.abandon(heldChannel);
      this.forgetChannel(heldChannel);
      log(`replacing the split group of ${heldChannel} with a new Welcome`);
    }
    try {
      const info = await mls.join(welcome, commitSeq, { keepKeyPackage: true });
      this.forks.joinedProvisionally(info.channel, info.keyPackageRef);
      store.setSetting(PROVISIONAL + info.channel, hex(info.keyPackageRef));
      this.stream.joinedAt(info.channel, info.epoch);
      channels.adopt(info.channel, info.groupId, commitSeq);
      void this.keyPackages.replenish();
      return { kind: "joined", info };
    } catch (error) {
      if (!(error instanceof MlsError)) throw error;
      if (error.code === "already_exists" && groupHex !== undefined) {
        this.held.hold(groupHex, { welcome, commitSeq });
        log(`ignored a Welcome: already_exists: held until the removal it follows is applied`);
        return { kind: "held" };
      }
      return { kind: "refused", error };
    }
  }
}
