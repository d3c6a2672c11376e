import { MlsError } from "../mls/errors.js";
import { decodeWelcomeMessage } from "../mls/messages.js";
import type { EnvelopeOf } from "../wire/envelope.js";
import { hex, stateOf, type Core } from "./core.js";
import { ForkWatch } from "./forkWatch.js";
import { HeldWelcomes } from "./heldWelcomes.js";
import type { KeyPackageSupply } from "./keyPackageSupply.js";
import type { RelayStream } from "./relayStream.js";
import { AgentError, type JoinResult } from "./types.js";

/** Setting holding the key package (hex ref) of a provisional join of a channel; empty once settled. */
const PROVISIONAL = "provisional_join:";

/**
 * Joining by Welcome. A Welcome from the inbox joins provisionally (its key package is kept) until
 * another member's frame verifies: the relay could have released a Welcome whose commit lost, and
 * split evidence before that undoes the join. A Welcome for a group still held waits (see
 * heldWelcomes.ts) until the removal it follows is applied. Owns the provisional and split state
 * of channels, the held Welcomes, and the groups this agent asked to join with an invite.
 */
export class WelcomeJoins {
  private readonly forks = new ForkWatch();
  private readonly held: HeldWelcomes;
  /** Group ids (hex) of channels this agent asked to join with an invite. */
  private readonly expected = new Set<string>();

  constructor(
    private readonly core: Core,
    private readonly stream: RelayStream,
    private readonly keyPackages: KeyPackageSupply,
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

  /** This agent asked to join the group with an invite: its Welcome is accepted even with directory adds off. */
  expect(groupId: Uint8Array): void {
    this.expected.add(hex(groupId));
  }

  /** A Welcome from the inbox. */
  async welcome(e: EnvelopeOf<"GroupWelcome">): Promise<void> {
    if (!this.mayJoin(e.channel)) {
      this.core.log("ignored a Welcome this agent did not ask for (directory adds are off: SKYTALE_ACCEPT_DIRECTORY_ADDS=0)");
      return;
    }
    await this.joinFromWelcome(e.welcome, Number(e.commitSeq), hex(e.channel));
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
   * The relay serves, at this agent's own epoch, a frame it cannot read: the members' views may
   * have split (a commit shown to some and not others), or a non-member posted it. A join no
   * other member has confirmed is undone (its Welcome was for a commit that did not win), and a
   * Welcome held back meanwhile takes its place.
   */
  async forkEvidence(channel: string, seq: number): Promise<void> {
    const { warnings, mls } = this.core;
    this.forks.markForked(channel);
    const groupHex = this.core.channels.groupOf(channel);
    const stashed = groupHex === undefined ? undefined : this.held.get(groupHex);
    if (groupHex !== undefined && stashed !== undefined) this.held.drop(groupHex);
    if (!this.forks.isProvisional(channel) && stashed === undefined) {
      return warnings.warn(
        channel,
        "fork_suspected",
        `frame ${seq} is at this agent's epoch but cannot be read, even when fetched again: the relay may be showing members different commits, or carries a non-member's frame; if it goes on, have a member remove this agent and add it again`,
        seq,
      );
    }
    await mls.abandon(channel);
    this.forgetChannel(channel);
    warnings.warn(channel, "half_joined", `the Welcome this agent joined with was for a commit the other members do not have; the channel was left${stashed ? " and joined again with a newer Welcome" : " until a member adds this agent again"}`, seq);
    if (stashed !== undefined) await this.joinFromWelcome(stashed.welcome, stashed.commitSeq);
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
        await this.joinFromWelcome(held.welcome, held.commitSeq, groupHex);
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
    if (info.channel !== channel) {
      throw new AgentError("bad_request", `that Welcome opens '${info.channel}', not '${channel}' (joined '${info.channel}' anyway)`);
    }
    return { status: "joined" as const, ...stateOf(channel, info) };
  }

  forget(channel: string): void {
    if (this.forks.isProvisional(channel)) this.core.store.setSetting(PROVISIONAL + channel, "");
    this.forks.forget(channel);
  }

  /**
   * Joins with a Welcome from the inbox, provisionally. A Welcome for a group held already waits,
   * unless that group is known to have split from the others'.
   */
  private async joinFromWelcome(welcome: Uint8Array, commitSeq: number, groupHex?: string): Promise<void> {
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
      void this.keyPackages.publish(1);
    } catch (error) {
      if (!(error instanceof MlsError)) throw error;
      if (error.code === "already_exists" && groupHex !== undefined) this.held.hold(groupHex, { welcome, commitSeq });
      // MlsError messages carry no key or plaintext (errorMapping.ts); the reason is what an operator needs.
      log(`ignored a Welcome: ${error.code}: ${error.message}`);
    }
  }

  /** Joins this agent asked for, or directory adds by agents it accepts adds from. */
  private mayJoin(groupId: Uint8Array): boolean {
    return this.expected.delete(hex(groupId)) || (this.core.config.acceptDirectoryAdds ?? true);
  }
}
