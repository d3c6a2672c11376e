import type { MsgHdrs } from "@nats-io/transport-node";
import { DeliverPolicy, JetStreamApiError, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import type { StoreMetrics } from "../metrics.js";

/** A message of a stream as the relay reads it back. */
export interface StoredMessage {
  readonly seq: number;
  readonly subject: string;
  readonly header: MsgHdrs | undefined;
  /** Empty when only headers were read. */
  readonly data: Uint8Array;
  /** When the stream stored it (ms since the epoch). */
  readonly timeMs: number;
}

/** Messages a range read fetches one by one before it opens a consumer for the rest. */
const ONE_BY_ONE = 4;
/**
 * What a range read's consumer may fetch ahead of what was taken: past the largest record (the
 * server's max_payload, 1 MiB by default, at most 8 MiB as NATS advises), and no more.
 */
const RANGE_PREFETCH_BYTES = 8 * 1024 * 1024;
/** A range read that gets no message for this long gives up. */
const RANGE_IDLE_MS = 10_000;

/**
 * Reads one stream: single messages from its leader (so a read never misses what a publish was
 * acknowledged for, whichever replica the client is connected to), and ranges of a subject
 * through a short-lived ordered consumer.
 */
export class StreamReader {
  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    readonly stream: string,
    private readonly metrics: StoreMetrics,
  ) {}

  /** The last message on `subject`, if any. */
  last(subject: string): Promise<StoredMessage | undefined> {
    return this.get({ last_by_subj: subject });
  }

  /** The first message on `subject` at or after stream seq `seq`, if any. */
  next(subject: string, seq: number): Promise<StoredMessage | undefined> {
    return this.get({ next_by_subj: subject, seq });
  }

  /** The message at stream seq `seq`, if it is still there. */
  at(seq: number): Promise<StoredMessage | undefined> {
    return this.get({ seq });
  }

  private async get(query: { last_by_subj: string } | { next_by_subj: string; seq: number } | { seq: number }): Promise<StoredMessage | undefined> {
    const started = performance.now();
    try {
      const m = await this.jsm.streams.getMessage(this.stream, query);
      this.metrics.observe("get", (performance.now() - started) / 1000);
      return m === null ? undefined : { seq: m.seq, subject: m.subject, header: m.header, data: m.data, timeMs: m.time.getTime() };
    } catch (error) {
      // "no message found"
      if (error instanceof JetStreamApiError && (error.code === 10037 || error.status === 404)) return undefined;
      this.metrics.error("get", "unavailable");
      throw error;
    }
  }

  /**
   * The messages on `subject` from stream seq `from` on, in order, up to stream seq `to` or the
   * last one there is, whichever comes first. `headersOnly` leaves the bodies on the server.
   */
  async *range(subject: string, from: number, to: number, headersOnly = false): AsyncGenerator<StoredMessage> {
    let at = from;
    for (let i = 0; i < ONE_BY_ONE; i++) {
      if (at > to) return;
      const m = await this.next(subject, at);
      if (m === undefined || m.seq > to) return;
      yield m;
      at = m.seq + 1;
    }
    if (at > to) return;
    const started = performance.now();
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: subject, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: at, headers_only: headersOnly });
    const messages = await consumer.consume({ max_bytes: RANGE_PREFETCH_BYTES, expires: 4000 });
    this.metrics.observe("consumer", (performance.now() - started) / 1000);
    // A read that stops getting messages (a server lost under it for long) fails instead of hanging.
    let idle = false;
    let timer = setTimeout(() => ((idle = true), void messages.close()), RANGE_IDLE_MS);
    try {
      for await (const m of messages) {
        clearTimeout(timer);
        timer = setTimeout(() => ((idle = true), void messages.close()), RANGE_IDLE_MS);
        if (m.seq > to) return;
        yield { seq: m.seq, subject: m.subject, header: m.headers, data: m.data, timeMs: Number(BigInt(m.info.timestampNanos) / 1_000_000n) };
        if (m.seq >= to || m.info.pending === 0) return;
      }
      if (idle) {
        this.metrics.error("consumer", "unavailable");
        throw new Error(`reading ${subject} stalled for ${RANGE_IDLE_MS} ms`);
      }
    } finally {
      clearTimeout(timer);
      await messages.close();
      consumer.delete().catch(() => undefined);
    }
  }
}
