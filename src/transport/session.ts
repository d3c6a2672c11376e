import type { Timers } from "../wire/cover.js";
import type { Envelope, EnvelopeOf } from "../wire/envelope.js";
import { TransportError } from "./errors.js";
import type { RelayLink } from "./relayLink.js";
import type { RelayRequest } from "./requests.js";

/** What to do with the answer to one request sent on a session. */
export interface PendingReply {
  readonly expects: readonly Envelope["type"][];
  onReply(reply: Envelope): void;
  onRelayError(error: EnvelopeOf<"Error">): void;
  /** The relay answered with a type that does not answer this request. */
  onFailure(error: TransportError): void;
}

/** For requests whose answer does not matter (Unsubscribe, keepalive pings). */
export const IGNORE_REPLY: PendingReply = { expects: ["Ack", "Pong"], onReply: () => {}, onRelayError: () => {}, onFailure: () => {} };

/**
 * Everything that lives exactly as long as one link: replies awaited by request id, the last seq
 * delivered per stream (so one link never delivers a seq twice), and its timers.
 */
export class Session {
  readonly link: RelayLink;
  /** Last seq delivered on this link, per channel (hex id) or "inbox". */
  readonly delivered = new Map<string, bigint>();
  authenticated = false;
  pingOutstanding = false;
  private readonly pending = new Map<bigint, PendingReply>();
  private readonly timers = new Set<unknown>();

  constructor(
    private readonly clock: Timers,
    /** Request ids, unique over the client's life and so over every link. */
    private readonly nextId: () => bigint,
    makeLink: (session: Session) => RelayLink,
  ) {
    this.link = makeLink(this);
  }

  /** Sends a request with a fresh id and remembers what to do with its answer. */
  request(request: RelayRequest, pending: PendingReply): void {
    const id = this.nextId();
    this.pending.set(id, pending);
    this.link.send({ ...request, id } as Envelope);
  }

  /**
   * Routes a reply to the request it answers. Returns an error to report when the reply is a
   * relay-wide complaint (Error with id 0) or does not fit its request; answers to requests
   * nobody waits for any more are dropped.
   */
  answer(reply: Envelope): TransportError | undefined {
    const pending = this.pending.get(reply.id);
    if (pending === undefined) {
      if (reply.type !== "Error" || reply.id !== 0n) return undefined;
      return new TransportError("rejected", `the relay reported ${reply.code}: ${reply.message}`, { relayCode: reply.code });
    }
    this.pending.delete(reply.id);
    if (reply.type === "Error") return void pending.onRelayError(reply);
    if (pending.expects.includes(reply.type)) return void pending.onReply(reply);
    const error = new TransportError("protocol_error", `the relay answered request ${reply.id} with ${reply.type}`);
    pending.onFailure(error);
    return error;
  }

  /** Runs `fn` after `ms` unless the session ends first. */
  later(ms: number, fn: () => void): void {
    const handle = this.clock.setTimeout(() => {
      this.timers.delete(handle);
      fn();
    }, ms);
    this.timers.add(handle);
  }

  /** Cancels the session's timers; its pending replies are dropped with it. */
  end(): void {
    for (const handle of this.timers) this.clock.clearTimeout(handle);
    this.timers.clear();
    this.pending.clear();
  }
}
