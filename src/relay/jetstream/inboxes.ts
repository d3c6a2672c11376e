import { randomBytes } from "node:crypto";
import { headers as natsHeaders } from "@nats-io/transport-node";
import type { JetStreamClient, JetStreamManager } from "@nats-io/jetstream";
import type { InboxAppendResult, InboxItem } from "../channelLog.js";
import type { StoreMetrics } from "../metrics.js";
import type { StoredMessage, StreamReader } from "./streamReader.js";
import type { Subjects } from "./subjects.js";

/** Tries of one append against other writers of the same inbox before giving up. */
const MAX_TRIES = 64;
/** Inbox heads cached (a head is re-read whenever a compare-and-set shows it moved). */
const CACHED_HEADS = 4096;

interface Head {
  /** Stream seq of the inbox's last record (0: none). */
  readonly streamSeq: number;
  /** Its inbox seq: the last item's, or a marker's. */
  readonly seq: bigint;
}

/** What the inbox stream's records are: items, or a marker that keeps the last seq once every item is acknowledged. */
export function readInboxRecord(m: StoredMessage): { seq: bigint; marker: boolean } {
  const seq = m.header?.get("Sky-Seq") ?? "";
  if (!/^\d{1,19}$/.test(seq)) throw new Error("an inbox record without a readable Sky-Seq");
  return { seq: BigInt(seq), marker: m.header?.get("Sky-Marker") === "1" };
}

/**
 * Inboxes in JetStream: one subject per principal, items with dense seqs kept dense by
 * compare-and-set (each item expects the inbox's last record). An item can carry a reference (a
 * Welcome's: channel, commit and recipient) that makes it land once even when two nodes deliver it,
 * as a node finishing another's work after a crash does: its message id dedups within the stream's
 * window, and a lost compare-and-set looks at the record that won the place. Acknowledged items
 * are purged; a marker record keeps the last seq once all are.
 */
export class NatsInboxes {
  private readonly heads = new Map<string, Head>();
  /** The append running per inbox on this node, each waiting for the one before: see append(). */
  private readonly appending = new Map<string, Promise<unknown>>();

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly subjects: Subjects,
    private readonly reader: StreamReader,
    private readonly metrics: StoreMetrics,
    private readonly isConflict: (error: unknown) => boolean,
  ) {}

  /** Notes an item seen by the live consumer, so that the next append expects it. */
  seen(principal: string, m: StoredMessage): void {
    const cached = this.heads.get(principal);
    if (cached !== undefined && cached.streamSeq < m.seq) this.remember(principal, { streamSeq: m.seq, seq: readInboxRecord(m).seq });
  }

  private remember(principal: string, head: Head): void {
    this.heads.delete(principal);
    this.heads.set(principal, head);
    if (this.heads.size > CACHED_HEADS) this.heads.delete(this.heads.keys().next().value as string);
  }

  private async head(principal: string, fresh: boolean): Promise<Head> {
    const cached = fresh ? undefined : this.heads.get(principal);
    if (cached !== undefined) return cached;
    const last = await this.reader.last(this.subjects.inbox(principal));
    const head = last === undefined ? { streamSeq: 0, seq: 0n } : { streamSeq: last.seq, seq: readInboxRecord(last).seq };
    this.remember(principal, head);
    return head;
  }

  /**
   * Appends an item; with `maxItems`, only while the inbox holds fewer, and with `sender` only
   * while it holds fewer than `sender.maxItems` of that sender's (its header Sky-From). Both are
   * checked just before; appends to one inbox take turns on this node (a burst of requests in one
   * frame would otherwise all pass the check together), so only appends on other nodes at the
   * same moment can pass them, by a few. With `ref`, an item that is already there (by that
   * reference) is not added again.
   */
  append(principal: string, envelope: Uint8Array, options: { maxItems?: number; sender?: { principal: string; maxItems: number }; ref?: string } = {}): Promise<InboxAppendResult> {
    const before = this.appending.get(principal) ?? Promise.resolve();
    const mine = before.then(
      () => this.appendNow(principal, envelope, options),
      () => this.appendNow(principal, envelope, options),
    );
    this.appending.set(principal, mine);
    const done = () => {
      if (this.appending.get(principal) === mine) this.appending.delete(principal);
    };
    mine.then(done, done);
    return mine;
  }

  private async appendNow(
    principal: string,
    envelope: Uint8Array,
    options: { maxItems?: number; sender?: { principal: string; maxItems: number }; ref?: string },
  ): Promise<InboxAppendResult> {
    if (options.maxItems !== undefined && (await this.size(principal)) >= options.maxItems) return { kind: "full" };
    const sender = options.sender;
    if (sender !== undefined && (await this.countFrom(principal, sender.principal)) >= sender.maxItems) return { kind: "sender_full" };
    const subject = this.subjects.inbox(principal);
    const msgId = options.ref ?? randomBytes(16).toString("base64url");
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const head = await this.head(principal, tries > 0);
      const h = natsHeaders();
      h.set("Nats-Msg-Id", msgId);
      h.set("Sky-Seq", String(head.seq + 1n));
      if (sender !== undefined) h.set("Sky-From", sender.principal);
      const started = performance.now();
      try {
        const ack = await this.js.publish(subject, envelope, { headers: h, expect: { lastSubjectSequence: head.streamSeq } });
        this.metrics.observe("inbox_publish", (performance.now() - started) / 1000);
        if (ack.duplicate) {
          const original = await this.reader.at(ack.seq);
          return { kind: "stored", seq: original === undefined ? head.seq : readInboxRecord(original).seq };
        }
        this.remember(principal, { streamSeq: ack.seq, seq: head.seq + 1n });
        return { kind: "stored", seq: head.seq + 1n };
      } catch (error) {
        if (!this.isConflict(error)) throw error;
        this.metrics.error("inbox_publish", "conflict");
        // Did an earlier try of this very item (an answer lost) or another node's copy of it win?
        const winner = await this.reader.next(subject, head.streamSeq + 1);
        if (winner !== undefined && winner.header?.get("Nats-Msg-Id") === msgId) return { kind: "stored", seq: readInboxRecord(winner).seq };
      }
    }
    throw new Error(`the inbox of '${principal}' is too contended: ${MAX_TRIES} tries lost`);
  }

  /** Items (not markers) in the inbox. */
  async size(principal: string): Promise<number> {
    const subject = this.subjects.inbox(principal);
    const info = await this.jsm.streams.info(this.subjects.streams.inboxes, { subjects_filter: subject });
    const count = info.state.subjects?.[subject] ?? 0;
    if (count === 0) return 0;
    const first = await this.reader.next(subject, 0);
    return first !== undefined && readInboxRecord(first).marker ? count - 1 : count;
  }

  /** Items in the inbox from `sender`, read from their headers (an inbox holds a bounded number). */
  private async countFrom(principal: string, sender: string): Promise<number> {
    const subject = this.subjects.inbox(principal);
    const last = await this.reader.last(subject);
    if (last === undefined) return 0;
    let n = 0;
    for await (const m of this.reader.range(subject, 0, last.seq, true)) if (m.header?.get("Sky-From") === sender) n++;
    return n;
  }

  /** Items with seq ≥ fromSeq, oldest first, at most `limit` and, past the first, `maxBytes`. */
  async read(principal: string, fromSeq: bigint, limit: number, maxBytes = Number.POSITIVE_INFINITY): Promise<InboxItem[]> {
    const subject = this.subjects.inbox(principal);
    const last = await this.reader.last(subject);
    if (last === undefined) return [];
    // Headers first, to skip the bodies of items before `fromSeq` (Welcomes can be large).
    let start: number | undefined;
    for await (const m of this.reader.range(subject, 0, last.seq, true)) {
      const record = readInboxRecord(m);
      if (!record.marker && record.seq >= fromSeq) {
        start = m.seq;
        break;
      }
    }
    if (start === undefined) return [];
    const items: InboxItem[] = [];
    let bytes = 0;
    for await (const m of this.reader.range(subject, start, last.seq)) {
      const record = readInboxRecord(m);
      if (record.marker || record.seq < fromSeq) continue;
      bytes += m.data.length;
      if (items.length > 0 && bytes > maxBytes) break;
      items.push({ seq: record.seq, envelope: m.data });
      if (items.length >= limit) break;
    }
    return items;
  }

  async lastSeq(principal: string): Promise<bigint> {
    return (await this.head(principal, true)).seq;
  }

  /** Purges the items up to `upToSeq`; once none is left, a marker keeps the last seq. */
  async ack(principal: string, upToSeq: bigint): Promise<void> {
    const subject = this.subjects.inbox(principal);
    for (let tries = 0; tries < MAX_TRIES; tries++) {
      const last = await this.reader.last(subject);
      if (last === undefined) return;
      let keepFrom: number | undefined;
      for await (const m of this.reader.range(subject, 0, last.seq, true)) {
        const record = readInboxRecord(m);
        if (!record.marker && record.seq > upToSeq) {
          keepFrom = m.seq;
          break;
        }
      }
      if (keepFrom !== undefined) {
        await this.jsm.streams.purge(this.subjects.streams.inboxes, { filter: subject, seq: keepFrom });
        return;
      }
      const lastRecord = readInboxRecord(last);
      if (lastRecord.marker) {
        await this.jsm.streams.purge(this.subjects.streams.inboxes, { filter: subject, seq: last.seq });
        return;
      }
      const h = natsHeaders();
      h.set("Sky-Seq", String(lastRecord.seq));
      h.set("Sky-Marker", "1");
      try {
        const ack = await this.js.publish(subject, new Uint8Array(0), { headers: h, expect: { lastSubjectSequence: last.seq } });
        this.remember(principal, { streamSeq: ack.seq, seq: lastRecord.seq });
        await this.jsm.streams.purge(this.subjects.streams.inboxes, { filter: subject, seq: ack.seq });
        return;
      } catch (error) {
        // An item arrived meanwhile: look again.
        if (!this.isConflict(error)) throw error;
      }
    }
  }
}
