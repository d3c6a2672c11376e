import { DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JsMsg } from "@nats-io/jetstream";

/** Pause before a stopped feed's consumer is made again. */
const RESTART_MS = 500;

/**
 * Every new message of a stream's subjects, in stream order, once each, for as long as the node
 * runs: an ordered consumer that starts after the stream's last message at start, and is made
 * again from the last message handled if the client gives it up (NATS down for long).
 */
export class LiveFeed {
  private next: number;
  private messages: ConsumerMessages | undefined;
  private stopped = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly stream: string,
    private readonly filter: string,
    /** The first stream seq to deliver. */
    startSeq: number,
    private readonly handle: (m: JsMsg) => void,
    private readonly report: (line: string) => void,
  ) {
    this.next = startSeq;
  }

  async start(): Promise<void> {
    // StartSequence, not New: a consumer the client re-makes resumes after the last message seen.
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: this.filter, deliver_policy: DeliverPolicy.StartSequence, opt_start_seq: this.next });
    const messages = await consumer.consume({
      max_bytes: 8 * 1024 * 1024,
      // Heartbeats every 2 s: a consumer lost with a NATS server is noticed and made again within seconds.
      expires: 4000,
      callback: (m) => {
        if (m.seq < this.next) return;
        this.next = m.seq + 1;
        try {
          this.handle(m);
        } catch (error) {
          this.report(`a record on ${m.subject} could not be handled: ${(error as Error).message}`);
        }
      },
    });
    this.messages = messages;
    void messages.closed().then((error) => {
      if (this.stopped) return;
      this.report(`the ${this.stream} feed stopped (${error instanceof Error ? error.message : "closed"}); making it again`);
      setTimeout(() => void this.restart(), RESTART_MS).unref();
    });
  }

  private async restart(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.start();
    } catch (error) {
      this.report(`the ${this.stream} feed could not be made again: ${(error as Error).message}`);
      setTimeout(() => void this.restart(), RESTART_MS).unref();
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
  }
}
