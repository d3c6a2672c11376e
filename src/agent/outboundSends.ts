import { SENT_TIME_CAPABILITY } from "../mls/capabilities.js";
import { MlsError } from "../mls/errors.js";
import type { SealedMessage } from "../mls/mlsAgent.js";
import type { CommitIntents } from "./commitIntents.js";
import type { Core } from "./core.js";
import { guarded, toAgentError } from "./errors.js";
import type { Leaving } from "./leaving.js";
import { encodeText, MAX_TEXT_BYTES } from "./messageCodec.js";
import { QueuedTexts, type OutgoingText } from "./queuedTexts.js";
import { isQueued, relayCodeOf, withTimeout } from "./relayAnswers.js";
import type { Rotation } from "./rotation.js";
import { AgentError, type SendResult } from "./types.js";

const SEND_ATTEMPTS = 6;

/**
 * Sending text: wait until the channel's stream is current, seal (sends that overlap are packed
 * into one MLS message, sent once for all of them), hand it to the relay and follow its answer. A
 * message refused as too old for its members is encrypted again; a send that gave up waiting
 * leaves its text with QueuedTexts. Owns the relay's answer for each sealed message.
 */
export class OutboundSends {
  /** The relay's answer for each sealed message handed to it, shared by the sends packed into it. */
  private readonly answers = new WeakMap<SealedMessage, Promise<bigint>>();
  private readonly queued: QueuedTexts;

  constructor(
    private readonly core: Core,
    private readonly commits: CommitIntents,
    private readonly leaving: Leaving,
    private readonly rotation: Rotation,
  ) {
    this.queued = new QueuedTexts(core, (channel) => this.caughtUp(channel), (channel, text) => this.sendAgain(channel, text));
  }

  /**
   * Sends a text. The relay's ack makes it `sent`; a relay that does not answer in time, or a link
   * that is down, leaves it `queued`: stored in the outbox and sent when the relay is reachable,
   * which is a success too (sending it again would deliver it twice). Only a message that will not
   * go out is an error.
   */
  async send(channel: string, message: string, sentAt = this.core.config.clock?.() ?? Date.now()): Promise<SendResult> {
    const { channels, mls, log, sendTimeoutMs } = this.core;
    if (this.leaving.has(channel)) throw new AgentError("not_member", `this agent asked to leave '${channel}'; it can no longer send there`);
    if (Buffer.byteLength(message, "utf8") > MAX_TEXT_BYTES) {
      throw new AgentError("bad_request", `a message is at most ${MAX_TEXT_BYTES} bytes of UTF-8 (members drop longer ones); split it into several messages`);
    }
    const text = { text: message, sentAt };
    for (let attempt = 1; ; attempt++) {
      await this.caughtUp(channel);
      const sealed = await this.encryptText(channel, text);
      let seq: bigint;
      try {
        seq = await withTimeout(this.handOver(sealed), sendTimeoutMs, "the message is stored and queued; it goes out when the relay is reachable");
      } catch (error) {
        // The relay refuses a message for an epoch no member keeps keys for (it waited in the
        // outbox while commits went on), so whatever it accepts is readable: encrypt it again.
        if (attempt < SEND_ATTEMPTS && relayCodeOf(error) === "stale_epoch") {
          log(`a message to ${channel} was refused as too old for its members to read; encrypting it again`);
          continue;
        }
        if (!isQueued(error)) throw error;
        this.queued.orphan(channel, sealed, text);
        this.rotation.countSend(channel);
        return { status: "queued", channel, epoch: mls.epochOf(channel), reason: (error as Error).message };
      }
      channels.noteHead(channel, Number(seq));
      this.rotation.countSend(channel);
      return { status: "sent", channel, seq: Number(seq), epoch: mls.epochOf(channel) };
    }
  }

  /** A Msg came by in a channel's stream (it may be a queued message of ours, archived). */
  seenInStream(body: Uint8Array): void {
    this.queued.seenInStream(body);
  }

  /** The relay answered a message nobody awaits any more (a deadline passed, or the link dropped). */
  answeredLate(body: Uint8Array, error: unknown): void {
    if (error === undefined) this.queued.taken(body);
    else this.queued.refused(body, error, true);
  }

  /**
   * Waits until the stream has applied everything the channel is known to hold. A message built
   * on an epoch the relay has long left (an agent just restarted, or lagging behind the stream)
   * is ordered after newer commits, and members keep only the last two epochs' keys.
   */
  private caughtUp(channel: string): Promise<void> {
    const { channels, progress, sendTimeoutMs } = this.core;
    return progress.until(() => channels.caughtUp(channel), sendTimeoutMs, "the channel is still catching up with the relay; try again", "relay_unreachable");
  }

  private async encryptText(channel: string, text: OutgoingText): Promise<SealedMessage> {
    try {
      return await this.sealText(channel, text);
    } catch (error) {
      if (!(error instanceof MlsError) || error.code !== "proposals_pending") throw error;
      await this.commits.commitPending(channel);
      return this.sealText(channel, text);
    }
  }

  /** The text carries the time it was sent, unless a member's release would not read it. */
  private async sealText(channel: string, { text, sentAt }: OutgoingText): Promise<SealedMessage> {
    const { mls, config } = this.core;
    const payload = (everyLeafHas: (capability: number) => boolean) => encodeText(text, everyLeafHas(SENT_TIME_CAPABILITY) ? sentAt : undefined);
    if (config.packSends !== false) return mls.seal(channel, payload);
    return { bytes: await mls.encrypt(channel, payload), payloads: 1 };
  }

  /** Hands a sealed message to the relay once, however many sends it carries; all of them get its seq. */
  private handOver(sealed: SealedMessage): Promise<bigint> {
    let sent = this.answers.get(sealed);
    if (sent === undefined) {
      sent = this.core.relay.sendMessage(sealed.bytes);
      this.answers.set(sealed, sent);
      // Registered before any caller's handler, so it sees only the sends whose callers gave up.
      sent.then(
        () => this.queued.taken(sealed.bytes),
        (error: unknown) => this.queued.refused(sealed.bytes, error, this.queued.wasAbandoned(sealed)),
      );
    }
    return sent;
  }

  /** Encrypts a refused queued text again; its caller is long gone, so a failure is told on the channel. */
  private sendAgain(channel: string, { text, sentAt }: OutgoingText): void {
    void guarded(() => this.send(channel, text, sentAt)).catch((error: unknown) => {
      this.core.quiet(error);
      if (isQueued(error)) return;
      this.queued.notDelivered(channel, `could not be encrypted again (${toAgentError(error).code})`);
    });
  }
}
