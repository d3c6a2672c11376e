import { createHash } from "node:crypto";
import { nanos } from "@nats-io/transport-node";
import { AckPolicy, DeliverPolicy, type ConsumerMessages, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { StoreMetrics } from "../metrics.js";
import type { NatsInboxes } from "./inboxes.js";
import { encodeRecord, type ChannelRecord } from "./records.js";
import type { StreamReader } from "./streamReader.js";
import type { Subjects } from "./subjects.js";

/**
 * Welcomes after a commit, across nodes and crashes. JetStream before 2.12 cannot publish to
 * several subjects in one step, so a commit and its Welcomes cannot be stored together. Instead
 * the node that takes a commit with a Welcome first publishes an intent to the work-queue stream:
 * the commit's record as it will be published (the place it expects in the chain included), the
 * recipients and the Welcome envelope. Then it publishes the record; once the record is in the
 * chain, it puts the Welcome into each recipient's inbox and deletes the intent; if another record
 * took the place, it deletes the intent without delivering anything.
 *
 * If the node dies anywhere in between, the intent is still there, and every node consumes the
 * work queue (one durable consumer shared by all). An intent older than a grace period is
 * finished by whichever node gets it: it publishes the same record at the same place, with the
 * same message id. Whether that publish lands (the commit wins now), is a duplicate, or loses the
 * compare-and-set to the very record (the commit had won), the chain decides the same way; only
 * then is the Welcome delivered, each inbox item carrying a reference that makes it land once
 * however many nodes deliver it. A Welcome therefore reaches its recipients if and only if its
 * commit won, whoever took the commit and whenever it died.
 */

/** A commit's Welcome waiting in the work queue. */
export interface WelcomeIntent {
  /** The intent's stream seq in the work queue. */
  readonly seq: number;
  readonly channel: Uint8Array;
  readonly record: Omit<ChannelRecord, "streamSeq">;
  readonly recipients: readonly string[];
  readonly envelope: Uint8Array;
}

/** How old an intent must be before a node other than the one that took the commit finishes it. */
export const WELCOME_GRACE_MS = 5000;
/** Redelivery of an intent whose finishing failed (NATS unreachable), and the pause before the finisher's consumer is made again. */
const RETRY_MS = 2000;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms).unref());

interface IntentHeader {
  readonly c: string;
  readonly r: readonly string[];
  readonly prev: number;
  readonly first: string;
  readonly ids: string;
  readonly state: { readonly epoch: string | null; readonly epochSeq: string; readonly key: string | null; readonly total: string; readonly last: string; readonly creator?: string | null };
  readonly win: number;
  readonly msgId: string;
}

function encodeIntent(channel: Uint8Array, record: Omit<ChannelRecord, "streamSeq">, recipients: readonly string[], envelope: Uint8Array): Uint8Array {
  const s = record.state;
  const header: IntentHeader = {
    c: Buffer.from(channel).toString("hex"),
    r: recipients,
    prev: record.prev,
    first: String(record.first),
    ids: Buffer.from(record.ids).toString("base64url"),
    state: { epoch: s.epoch === null ? null : String(s.epoch), epochSeq: String(s.epochSeq), key: s.commitKey === null ? null : Buffer.from(s.commitKey).toString("base64url"), total: String(s.totalBytes), last: String(s.lastSeq), creator: s.creator },
    win: record.win,
    msgId: record.msgId,
  };
  const json = Buffer.from(JSON.stringify(header));
  const frame = record.frames[0] ?? new Uint8Array(0);
  const out = Buffer.allocUnsafe(8 + json.length + frame.length + envelope.length);
  out.writeUInt32BE(json.length, 0);
  out.set(json, 4);
  out.writeUInt32BE(frame.length, 4 + json.length);
  out.set(frame, 8 + json.length);
  out.set(envelope, 8 + json.length + frame.length);
  return out;
}

function decodeIntent(seq: number, data: Uint8Array): WelcomeIntent {
  const view = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const jsonLength = view.readUInt32BE(0);
  const h = JSON.parse(view.subarray(4, 4 + jsonLength).toString("utf8")) as IntentHeader;
  const frameLength = view.readUInt32BE(4 + jsonLength);
  const frame = data.subarray(8 + jsonLength, 8 + jsonLength + frameLength);
  const record: Omit<ChannelRecord, "streamSeq"> = {
    prev: h.prev,
    first: BigInt(h.first),
    ids: new Uint8Array(Buffer.from(h.ids, "base64url")),
    state: {
      epoch: h.state.epoch === null ? null : BigInt(h.state.epoch),
      epochSeq: BigInt(h.state.epochSeq),
      commitKey: h.state.key === null ? null : new Uint8Array(Buffer.from(h.state.key, "base64url")),
      totalBytes: BigInt(h.state.total),
      lastSeq: BigInt(h.state.last),
      creator: h.state.creator ?? null,
    },
    win: h.win,
    handshake: true,
    msgId: h.msgId,
    frames: [frame],
  };
  return { seq, channel: new Uint8Array(Buffer.from(h.c, "hex")), record, recipients: h.r, envelope: data.subarray(8 + jsonLength + frameLength) };
}

/** The reference of one recipient's copy of one commit's Welcome: the same whichever node delivers it. */
function welcomeRef(channel: Uint8Array, commitSeq: bigint, recipient: string): string {
  return createHash("sha256").update(`skytale welcome v1|${Buffer.from(channel).toString("hex")}|${commitSeq}|${recipient}`).digest().subarray(0, 18).toString("base64url");
}

export class WelcomeDesk {
  private messages: ConsumerMessages | undefined;
  private stopped = false;

  constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly subjects: Subjects,
    private readonly channels: StreamReader,
    private readonly inboxes: NatsInboxes,
    private readonly metrics: StoreMetrics,
    private readonly isConflict: (error: unknown) => boolean,
    private readonly report: (line: string) => void,
    private readonly graceMs: number,
  ) {}

  /** Publishes the intent for a commit with a Welcome, before the commit's record. */
  async announce(channel: Uint8Array, record: Omit<ChannelRecord, "streamSeq">, recipients: readonly string[], envelope: Uint8Array): Promise<WelcomeIntent> {
    const started = performance.now();
    const ack = await this.js.publish(this.subjects.welcomes, encodeIntent(channel, record, recipients, envelope));
    this.metrics.observe("welcome_intent", (performance.now() - started) / 1000);
    return { seq: ack.seq, channel, record, recipients, envelope };
  }

  /** The commit's record was seen in the chain ("won") or another took its place ("lost"): finish the intent in the background. */
  settled(intent: WelcomeIntent, outcome: "won" | "lost"): void {
    const work = outcome === "won" ? this.deliver(intent) : Promise.resolve();
    work
      .then(() => this.jsm.streams.deleteMessage(this.subjects.streams.welcomes, intent.seq, false))
      .catch((error: unknown) => {
        // The intent stays in the work queue; a node finishes it after the grace period.
        this.report(`a Welcome is left for another node to deliver: ${(error as Error).message}`);
      });
  }

  /** Puts the Welcome into every recipient's inbox, trying again for a while (a NATS server restarting answers errors for a moment). */
  private async deliver(intent: WelcomeIntent): Promise<void> {
    const commitSeq = intent.record.first;
    for (let attempt = 0; ; attempt++) {
      try {
        await Promise.all(intent.recipients.map((r) => this.inboxes.append(r, intent.envelope, { ref: welcomeRef(intent.channel, commitSeq, r) })));
        return;
      } catch (error) {
        if (attempt >= 5 || this.stopped) throw error;
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  /**
   * Decides an intent by the chain: publishes its record at its place again (landing it if the
   * place is still free); it won if the record is there now, whoever put it there.
   */
  async finish(intent: WelcomeIntent): Promise<"won" | "lost"> {
    const subject = this.subjects.channel(intent.channel);
    const { headers, body } = encodeRecord(intent.record);
    try {
      await this.js.publish(subject, body, { headers, expect: { lastSubjectSequence: intent.record.prev } });
    } catch (error) {
      if (!this.isConflict(error)) throw error;
      const after = await this.channels.next(subject, intent.record.prev + 1);
      if (after?.header?.get("Nats-Msg-Id") !== intent.record.msgId) return "lost";
    }
    await this.deliver(intent);
    return "won";
  }

  /** Starts finishing the intents that nodes left behind (all nodes share one durable consumer). */
  async start(): Promise<void> {
    await this.jsm.consumers.add(this.subjects.streams.welcomes, {
      durable_name: this.durable,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(30_000),
      max_deliver: -1,
      deliver_policy: DeliverPolicy.All,
      filter_subject: this.subjects.welcomes,
    });
    void this.run();
  }

  private get durable(): string {
    return `${this.subjects.streams.welcomes}_finisher`;
  }

  /** Consumes the work queue for as long as the node runs, starting again whenever the client gives the consumer up. */
  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const consumer = await this.js.consumers.get(this.subjects.streams.welcomes, this.durable);
        // Short heartbeats: a consumer lost with a NATS server is noticed within seconds.
        this.messages = await consumer.consume({ max_messages: 16, expires: 4000 });
        for await (const m of this.messages) await this.process(m);
      } catch (error) {
        if (!this.stopped) this.report(`the Welcome finisher paused: ${(error as Error).message}`);
      }
      if (!this.stopped) await sleep(RETRY_MS);
    }
  }

  private async process(m: JsMsg): Promise<void> {
    const age = Date.now() - Number(BigInt(m.info.timestampNanos) / 1_000_000n);
    // The node that took the commit normally finishes (and deletes) its intent well within this.
    if (age < this.graceMs) return m.nak(this.graceMs - age);
    let intent: WelcomeIntent;
    try {
      intent = decodeIntent(m.seq, m.data);
    } catch {
      this.report("a malformed Welcome intent in the work queue was dropped");
      return m.term();
    }
    try {
      const outcome = await this.finish(intent);
      this.metrics.event("welcome_finished", outcome);
      m.ack();
    } catch (error) {
      this.report(`finishing a Welcome failed, retrying: ${(error as Error).message}`);
      m.nak(RETRY_MS);
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.messages?.close();
  }
}
