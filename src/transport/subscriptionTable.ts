import type { ChannelDelivery, InboxDelivery } from "./deliveries.js";
import { TransportError } from "./errors.js";
import type { Defer } from "./requestTracker.js";
import { TRANSIENT_RELAY_CODES, type RelayRequest } from "./requests.js";
import { IGNORE_REPLY, type Session } from "./session.js";

interface Subscription {
  /** Hex channel id, or INBOX. */
  readonly key: string;
  readonly channel: Uint8Array | undefined;
  /** Where to resume without a cursor callback: one past the last seq delivered. */
  next: bigint;
  /**
   * Whether the relay answered our latest Subscribe on this link. It answers before it replays,
   * so frames before the answer belong to an earlier subscription (one ended by Unsubscribe).
   */
  answered: boolean;
  readonly waiters: Set<{ resolve(seq: bigint): void; reject(error: TransportError): void }>;
}

export interface Cursors {
  readonly cursor?: (channel: Uint8Array) => bigint;
  readonly inboxCursor?: () => bigint;
}

const INBOX = "inbox";
const MAX_CHANNEL_ID_BYTES = 64;
const keyOf = (channel: Uint8Array) => Buffer.from(channel).toString("hex");

/** The channels and inbox the caller follows; every link subscribes them again from the cursors. */
export class SubscriptionTable {
  private readonly channels = new Map<string, Subscription>();
  private inbox: Subscription | undefined;

  constructor(
    private readonly max: number,
    private readonly cursors: Cursors,
    private readonly defer: Defer,
    private readonly report: (error: TransportError) => void,
    /** How long to wait before asking again after the `attempt`th refusal for now (rate_limited, internal). */
    private readonly retryDelay: (attempt: number) => number,
    /** Called as the relay acknowledges a (re)subscription, in stream order (before its replay). */
    private readonly onSubscribed: (channel: Uint8Array | undefined, fromSeq: bigint, lastSeq: bigint) => void = () => {},
  ) {}

  /** Follows a channel (or, without one, the inbox) from `fromSeq`; resolves with its last seq. */
  follow(channel: Uint8Array | undefined, fromSeq: bigint, session: Session | undefined): Promise<bigint> {
    if (channel !== undefined && (channel.length === 0 || channel.length > MAX_CHANNEL_ID_BYTES)) {
      return Promise.reject(new TransportError("invalid", "a channel id is 1-64 bytes"));
    }
    let subscription = channel === undefined ? this.inbox : this.channels.get(keyOf(channel));
    if (subscription === undefined) {
      if (channel !== undefined && this.channels.size >= this.max) {
        return Promise.reject(new TransportError("busy", `already subscribed to ${this.max} channels`));
      }
      subscription = { key: channel === undefined ? INBOX : keyOf(channel), channel: channel?.slice(), next: fromSeq, waiters: new Set(), answered: false };
      // Followed again after an Unsubscribe (a member removed and added back): the replay is wanted.
      session?.delivered.delete(subscription.key);
      if (channel === undefined) this.inbox = subscription;
      else this.channels.set(subscription.key, subscription);
    }
    subscription.next = fromSeq;
    const waiters = subscription.waiters;
    const waiter = this.defer<bigint>(channel === undefined ? "InboxSubscribe" : "Subscribe", () => waiters.delete(waiter));
    waiters.add(waiter);
    if (session?.authenticated) this.send(session, subscription, fromSeq);
    return waiter.promise;
  }

  /**
   * Asks the relay to replay a followed channel (or, without one, the inbox) from `fromSeq` on
   * this link, frames delivered before included: for a caller that found frames missing or
   * altered, or dropped them. False when not followed.
   */
  refetch(channel: Uint8Array | undefined, fromSeq: bigint, session: Session | undefined): boolean {
    const subscription = channel === undefined ? this.inbox : this.channels.get(keyOf(channel));
    if (subscription === undefined) return false;
    // Without a link, the next one resubscribes from the caller's cursor anyway.
    if (session?.authenticated) this.send(session, subscription, fromSeq, true);
    return true;
  }

  /** Stops following a channel; its frames still in flight are dropped. */
  unsubscribe(channel: Uint8Array, session: Session | undefined): void {
    const subscription = this.channels.get(keyOf(channel));
    if (subscription === undefined) return;
    this.channels.delete(subscription.key);
    for (const waiter of subscription.waiters) waiter.reject(new TransportError("closed", "unsubscribed before the relay answered"));
    if (session?.authenticated) session.request({ type: "Unsubscribe", channel }, IGNORE_REPLY);
  }

  /** Subscribes everything again on a new link, each from its cursor. */
  resubscribe(session: Session): void {
    for (const subscription of this.channels.values()) this.send(session, subscription, this.cursorOf(subscription));
    if (this.inbox !== undefined) this.send(session, this.inbox, this.cursorOf(this.inbox));
  }

  /** Whether to hand a delivery to the caller: followed, and not yet delivered on this link. */
  accept(session: Session, delivery: ChannelDelivery | InboxDelivery): boolean {
    const subscription = delivery.kind === "inbox" ? this.inbox : this.channels.get(keyOf(delivery.channel));
    if (subscription === undefined || !subscription.answered) return false;
    if (delivery.seq <= (session.delivered.get(subscription.key) ?? 0n)) return false;
    session.delivered.set(subscription.key, delivery.seq);
    if (delivery.seq >= subscription.next) subscription.next = delivery.seq + 1n;
    return true;
  }

  /** Whether `subscription` is still the one followed for its channel (or the inbox). */
  private followed(subscription: Subscription): boolean {
    return (subscription.channel === undefined ? this.inbox : this.channels.get(subscription.key)) === subscription;
  }

  private cursorOf(subscription: Subscription): bigint {
    try {
      const fromCaller = subscription.channel === undefined ? this.cursors.inboxCursor?.() : this.cursors.cursor?.(subscription.channel);
      return fromCaller ?? subscription.next;
    } catch (cause) {
      this.report(new TransportError("listener_failed", "the cursor callback threw; resuming after the last delivered seq", { cause }));
      return subscription.next;
    }
  }

  private send(session: Session, subscription: Subscription, fromSeq: bigint, replay = false, attempt = 0): void {
    const request: RelayRequest =
      subscription.channel === undefined ? { type: "InboxSubscribe", fromSeq } : { type: "Subscribe", channel: subscription.channel, fromSeq };
    const settle = (outcome: bigint | TransportError) => {
      for (const waiter of subscription.waiters) {
        if (outcome instanceof TransportError) waiter.reject(outcome);
        else waiter.resolve(outcome);
      }
      subscription.waiters.clear();
    };
    subscription.answered = false;
    session.request(request, {
      expects: ["Ack"],
      onReply: (reply) => {
        subscription.answered = true;
        // The replay follows this Ack; frames that came before it were in flight from earlier
        // and must not filter out the replay the caller asked for.
        if (replay) session.delivered.set(subscription.key, fromSeq - 1n);
        const lastSeq = reply.type === "Ack" ? reply.seq : 0n;
        this.onSubscribed(subscription.channel, fromSeq, lastSeq);
        settle(lastSeq);
      },
      onRelayError: (error) => {
        // Refused for now: asked again on this link (a new link subscribes from the cursor anyway).
        // Dropping it would unfollow the stream, and everything after would be lost without a word.
        if (TRANSIENT_RELAY_CODES.has(error.code)) {
          return session.later(this.retryDelay(attempt + 1), () => {
            if (this.followed(subscription)) this.send(session, subscription, fromSeq, replay, attempt + 1);
          });
        }
        // A refused subscription would be refused again on every reconnect.
        if (subscription.channel === undefined) this.inbox = undefined;
        else this.channels.delete(subscription.key);
        settle(new TransportError("rejected", `the relay refused the subscription: ${error.code}: ${error.message}`, { relayCode: error.code }));
      },
      onFailure: settle,
    });
  }
}
