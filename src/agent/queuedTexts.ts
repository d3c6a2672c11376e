import { messageDigest } from "../mls/messages.js";
import type { SealedMessage } from "../mls/mlsAgent.js";
import { readMlsRouting } from "../wire/mlsHeader.js";
import { hex, type Core } from "./core.js";
import { relayCodeOf } from "./relayAnswers.js";

/** Queued messages whose texts are kept to encrypt again; past it, a refusal is only reported. */
const MAX_ORPHANED = 1024;

/** A text as its send was asked for: sent again, it keeps the time it was first sent. */
export interface OutgoingText {
  readonly text: string;
  /** ms, the sender's clock. */
  readonly sentAt: number;
}

interface Orphaned {
  readonly channel: string;
  readonly texts: OutgoingText[];
}

/**
 * Texts of sends answered "queued" (their callers stopped waiting; the outbox keeps the
 * ciphertext), by the MLS message that carries them. Should the relay refuse such a message as
 * too old later, the text is still here and is encrypted and sent again; once the relay takes it,
 * or it comes back archived in the stream, the text goes. What cannot be sent again is reported
 * on the channel (message_not_delivered), so that nobody takes it for delivered.
 */
export class QueuedTexts {
  /** Texts by carrier digest, oldest first (bounded). */
  private readonly orphans = new Map<string, Orphaned>();
  /** Carriers of such messages seen archived in the stream (see archived()). */
  private readonly archivedCarriers = new Set<string>();
  /** Sealed messages some caller stopped waiting for: their texts may have been let go since. */
  private readonly abandoned = new WeakSet<SealedMessage>();

  constructor(
    private readonly core: Pick<Core, "config" | "log" | "channels" | "warnings">,
    /** Waits until the channel's stream has applied what the relay is known to hold. */
    private readonly caughtUp: (channel: string) => Promise<void>,
    /** Encrypts and sends a text again; its caller is long gone. */
    private readonly resend: (channel: string, text: OutgoingText) => void,
  ) {}

  /** A send answered "queued": its caller has stopped waiting, the outbox keeps the message. */
  orphan(channel: string, sealed: SealedMessage, message: OutgoingText): void {
    this.abandoned.add(sealed);
    const key = messageDigest(sealed.bytes);
    const entry = this.orphans.get(key) ?? { channel, texts: [] };
    entry.texts.push(message);
    this.orphans.delete(key);
    this.orphans.set(key, entry);
    if (this.orphans.size > (this.core.config.maxOrphaned ?? MAX_ORPHANED)) this.orphans.delete(this.orphans.keys().next().value as string);
  }

  /** Whether some caller stopped waiting for the relay's answer to `sealed`. */
  wasAbandoned(sealed: SealedMessage): boolean {
    return this.abandoned.has(sealed);
  }

  /** The relay took the message `body`. */
  taken(body: Uint8Array): void {
    if (this.orphans.size > 0) this.orphans.delete(messageDigest(body));
  }

  /**
   * A message came by in the channel stream. If it is a queued message of ours, the relay
   * archived it even if its ack never arrived: its text is not sent again, and a refusal of a
   * later copy of it (sent again past the relay's duplicate window) is no news.
   */
  seenInStream(body: Uint8Array): void {
    if (this.orphans.size === 0) return;
    const key = messageDigest(body);
    if (!this.orphans.delete(key)) return;
    this.archivedCarriers.add(key);
    if (this.archivedCarriers.size > MAX_ORPHANED) this.archivedCarriers.delete(this.archivedCarriers.values().next().value as string);
  }

  /**
   * The relay's final refusal of a message, or a failure of its link (the outbox tries again, so
   * that is no answer yet). Texts whose callers gave up are sent again when it was refused as too
   * old; what cannot be sent again (after a restart only the ciphertext is left) is reported on
   * the channel. `givenUp`: some caller stopped waiting for the answer (or nobody awaited it at
   * all); otherwise the callers hear the refusal themselves.
   */
  refused(body: Uint8Array, error: unknown, givenUp: boolean): void {
    const relayCode = relayCodeOf(error);
    if (relayCode === undefined) return;
    const key = messageDigest(body);
    if (this.archivedCarriers.delete(key)) return this.core.log(`a copy of a queued message the relay had archived was refused (${relayCode}); nothing to send again`);
    const orphaned = this.orphans.get(key);
    if (orphaned !== undefined && relayCode === "stale_epoch") return void this.resendUnlessArchived(key, orphaned);
    this.orphans.delete(key);
    const channel = this.core.channels.channelOf(hex(readMlsRouting(body).groupId));
    if (channel === undefined || (orphaned === undefined && !givenUp)) return;
    this.notDelivered(channel, `was refused (${relayCode})`);
  }

  /** Tells the channel that a queued message was not delivered. */
  notDelivered(channel: string, what: string): void {
    this.core.warnings.warn(channel, "message_not_delivered", `a message (or more) this agent queued while the relay was unreachable ${what} and was not delivered; send it again`);
  }

  /**
   * A queued message refused as too old may still have been archived: its ack was lost, and it
   * came again after the relay's duplicate window. Only once the stream has caught up with what
   * the relay holds does its absence from the stream (seenInStream) mean it was not.
   */
  private async resendUnlessArchived(key: string, orphaned: Orphaned): Promise<void> {
    await this.caughtUp(orphaned.channel).catch(() => undefined);
    if (this.orphans.get(key) !== orphaned) return void this.archivedCarriers.delete(key);
    this.orphans.delete(key);
    this.core.log(`a queued message to ${orphaned.channel} was refused as too old for its members to read; encrypting it again`);
    for (const text of orphaned.texts) this.resend(orphaned.channel, text);
  }
}
