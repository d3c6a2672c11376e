import type { Contacts } from "./contacts.js";
import type { Core } from "./core.js";
import { decodeText } from "./messageCodec.js";
import type { Rotation } from "./rotation.js";
import { AgentError, type ChannelWarning, type ReceivedMessage, type ReceiveOptions } from "./types.js";

/**
 * Bytes of messages one receive returns at most, always at least one message: three of the
 * largest size. The rest stay for the next call, so that a backlog of large messages cannot make
 * one answer of many MiB.
 */
export const MAX_RECEIVE_BYTES = 256 * 1024;

/**
 * What `receive` reads: the inbox rows the stream stored, each handed out once, with the
 * warnings gathered meanwhile; it long-polls on the stream's progress. Owns the listeners told
 * of each new message.
 */
export class InboxReader {
  private readonly listeners = new Set<(channel: string) => void>();

  constructor(
    private readonly core: Core,
    private readonly rotation: Rotation,
    private readonly contacts: Contacts,
  ) {}

  onMessage(listener: (channel: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A message of the channel landed in the inbox. */
  arrived(channel: string): void {
    this.listeners.forEach((l) => l(channel));
  }

  async receive(options: ReceiveOptions): Promise<{ messages: ReceivedMessage[]; timedOut: boolean; warnings?: ChannelWarning[] }> {
    const { mls, store, warnings, progress } = this.core;
    const { channel, waitMs = 0, maxMessages = 100, maxBytes = MAX_RECEIVE_BYTES, signal } = options;
    const known = channel === undefined || mls.channels().includes(channel) || store.countUndelivered(channel) > 0 || warnings.has(channel);
    if (!known) {
      throw new AgentError("not_found", `no channel '${channel}' on this agent; create it or join it first`);
    }
    const started = Date.now();
    for (;;) {
      // A cancelled call gets no answer at all: consuming messages for it would lose them.
      if (signal?.aborted) return { messages: [], timedOut: true };
      const rows = store.undelivered(channel, maxMessages, maxBytes);
      const waited = Date.now() - started;
      if (rows.length > 0 || warnings.has(channel) || waited >= waitMs || progress.closed) {
        store.markDelivered(rows.map((r) => r.id));
        const messages = rows.map((r): ReceivedMessage => {
          const decoded = decodeText(r.plaintext);
          return {
            channel: r.channel,
            sender: r.sender,
            senderDid: r.senderDid,
            trust: this.contacts.trustOfDid(r.sender, r.senderDid),
            message: decoded?.text ?? "",
            seq: r.seq,
            sentAt: decoded?.sentAt === undefined ? undefined : new Date(decoded.sentAt).toISOString(),
            receivedAt: new Date(r.receivedAt).toISOString(),
          };
        });
        for (const read of new Set(messages.map((m) => m.channel))) this.rotation.rotateIfDue(read);
        const taken = warnings.take(channel);
        return taken.length > 0 ? { messages, timedOut: false, warnings: taken } : { messages, timedOut: messages.length === 0 };
      }
      options.onWait?.(waited);
      await progress.nextEvent(Math.min(1000, waitMs - waited), signal);
    }
  }
}
