import { decodeEnvelope, encodeEnvelope, type Envelope } from "../wire/envelope.js";
import type { Deferred } from "./deferred.js";
import { TransportError } from "./errors.js";
import type { Outbox } from "./outbox.js";
import { DURABLE_TYPES, expectedReplies, TRANSIENT_RELAY_CODES, type RelayRequest } from "./requests.js";
import type { Session } from "./session.js";

/** Makes a promise with the client's deadline; `onTimeout` cleans up after it. */
export type Defer = <T>(what: string, onTimeout?: () => void) => Deferred<T>;

interface Job {
  /** Durable jobs live in the outbox, volatile ones only here. */
  readonly outboxId: number | undefined;
  readonly request: RelayRequest | undefined;
  /** Undefined for outbox entries left by an earlier process: nobody awaits them. */
  reply: Deferred<Envelope> | undefined;
  retries: number;
}

/**
 * Every request that waits for an answer, across links: stored requests in the outbox (the
 * truth, which survives restarts), the rest in memory. Each link re-sends all of them, in order.
 */
export class RequestTracker {
  private readonly durable = new Map<number, Job>();
  private readonly volatile = new Set<Job>();

  constructor(
    private readonly outbox: Outbox,
    private readonly defer: Defer,
    /** Where problems nobody awaits are reported (an unreadable outbox entry). */
    private readonly report: (error: TransportError) => void,
    private readonly retryDelay: (retries: number) => number,
    /** Where answers to requests nobody awaits any more go, with the request (error: refused). */
    private readonly answeredLate: (request: RelayRequest, error: TransportError | undefined) => void,
  ) {}

  /** Stores (when durable) and tracks a request, sends it on `session` if one is up, and resolves with the reply. */
  submit(request: RelayRequest, session: Session | undefined): Promise<Envelope> {
    let encoded: Uint8Array;
    try {
      encoded = encodeEnvelope({ ...request, id: 0n } as Envelope);
    } catch (cause) {
      return Promise.reject(new TransportError("invalid", `cannot send this ${request.type}: ${(cause as Error).message}`, { cause }));
    }
    const durable = DURABLE_TYPES.has(request.type);
    // Stored before anything is sent: from here on the request survives a crash.
    const outboxId = durable ? this.outbox.add(encoded) : undefined;
    const job: Job = { outboxId, request: durable ? undefined : request, reply: undefined, retries: 0 };
    const reply = this.defer<Envelope>(request.type, () => this.volatile.delete(job));
    job.reply = reply;
    if (outboxId !== undefined) this.durable.set(outboxId, job);
    else this.volatile.add(job);
    if (session?.authenticated) this.send(session, job, request);
    return reply.promise;
  }

  /** Sends everything unanswered on a new link: the outbox first, in its order, then the rest. */
  resend(session: Session): void {
    for (const entry of this.outbox.list()) {
      let request: RelayRequest;
      try {
        request = decodeEnvelope(entry.envelope);
      } catch (cause) {
        this.outbox.remove(entry.id);
        this.report(new TransportError("invalid", `dropped unreadable outbox entry ${entry.id}`, { cause }));
        continue;
      }
      this.send(session, this.durable.get(entry.id) ?? this.adopt(entry.id), request);
    }
    for (const job of this.volatile) this.send(session, job, job.request as RelayRequest);
  }

  /** An outbox entry from an earlier process: sent again, answered, removed; nobody waits for it. */
  private adopt(outboxId: number): Job {
    const job: Job = { outboxId, request: undefined, reply: undefined, retries: 0 };
    this.durable.set(outboxId, job);
    return job;
  }

  private send(session: Session, job: Job, request: RelayRequest): void {
    session.request(request, {
      expects: expectedReplies(request.type),
      onReply: (reply) => this.settle(job, request, reply),
      onRelayError: (error) => {
        if (!TRANSIENT_RELAY_CODES.has(error.code)) {
          const message = `the relay refused the ${request.type}: ${error.code}: ${error.message}`;
          return this.settle(job, request, new TransportError("rejected", message, { relayCode: error.code }));
        }
        session.later(this.retryDelay(++job.retries), () => {
          if (this.isLive(job)) this.send(session, job, request);
        });
      },
      // A durable request stays in the outbox for the next link; only its caller hears now.
      onFailure: (error) => {
        if (job.outboxId === undefined) this.volatile.delete(job);
        job.reply?.reject(error);
      },
    });
  }

  private isLive(job: Job): boolean {
    return job.outboxId === undefined ? this.volatile.has(job) : this.durable.has(job.outboxId);
  }

  private settle(job: Job, request: RelayRequest, outcome: Envelope | TransportError): void {
    if (job.outboxId === undefined) {
      this.volatile.delete(job);
    } else {
      this.outbox.remove(job.outboxId);
      this.durable.delete(job.outboxId);
    }
    // A durable request outlives its caller's wait (a deadline, a dropped link): its answer is
    // still news, or a queued message refused later would vanish without a trace.
    if (job.reply === undefined || job.reply.settled) this.answeredLate(request, outcome instanceof TransportError ? outcome : undefined);
    else if (outcome instanceof TransportError) job.reply.reject(outcome);
    else job.reply.resolve(outcome);
  }
}
