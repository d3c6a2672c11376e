import { setEnvelopeId } from "../../wire/envelope.js";
import {
  MSG_EPOCH_SLACK,
  StoreUnavailable,
  type AppendResult,
  type ChannelWrite,
  type HandshakeResult,
  type MessageResult,
  type OpenResult,
  type WriteFailure,
} from "../channelLog.js";
import { ChainWindow } from "./chainWindow.js";
import type { ChainContext } from "./chainContext.js";
import { decodeRecord, EMPTY_STATE, encodeRecord, frameOf, messageId, recordMsgId, type ChannelRecord, type ChannelState } from "./records.js";
import type { WelcomeIntent } from "./welcomes.js";

type Result = MessageResult | AppendResult | HandshakeResult | OpenResult | WriteFailure;

/** Frames in one record at most: a turn's worth of one channel's writes. */
const MAX_RECORD_FRAMES = 256;
/** Room for the intent's own header beside a commit and its Welcome (welcomes.ts). */
const INTENT_ROOM = 4096;
/** How long a publish whose outcome is unknown (NATS unreachable) is retried before its writes are answered "unavailable". */
const PUBLISH_PATIENCE_MS = 8000;

/** A record drafted from the head of the queue, with the result each write gets if it lands. */
interface Plan {
  /** Writes settled by this plan (from the head of the queue). */
  readonly writes: ChannelWrite[];
  readonly results: Result[];
  /** The record to publish, if any write stores a frame. */
  readonly record: Omit<ChannelRecord, "streamSeq"> | undefined;
  /** The Welcome of the commit the record holds. */
  readonly welcome: { readonly recipients: readonly string[]; readonly envelope: Uint8Array } | undefined;
}

/** The record being published, and what to do once it is seen in the chain. */
interface InFlight {
  readonly msgId: string;
  readonly plan: Plan;
  landed: boolean;
}

/**
 * One channel as a relay node sees it: the state after the last record it knows of (loaded from
 * the channel's last record, then kept up to date by every record that comes by), the dedup
 * window, and the queue of this node's writes. One record is in flight at a time per channel;
 * what arrives meanwhile waits and goes in the next one (group commit). Every record is published
 * with the expected last subject sequence of the record before: if another node got there first,
 * the publish fails, the node reads what it missed (handing those frames to the listener in
 * order), and decides every waiting write again on the new state.
 *
 * Frames go out exactly once and in order: a record is applied only if it follows the last one
 * applied (`prev`), and the node's own record, seen in the chain, settles its writes (which fan
 * the frames out) instead of being handed to the listener.
 */
export class ChannelChain {
  private state: ChannelState = EMPTY_STATE;
  /** Stream seq of the last record applied (0: none). */
  private lastStreamSeq = 0;
  private readonly window: ChainWindow;
  private loading: Promise<void> | undefined;
  private ready = false;
  /** Records that came by while the chain was loading, applied once it is. */
  private held: ChannelRecord[] = [];
  /** The catch-up passes, one after the other, and the one waiting to start. */
  private passes: Promise<void> = Promise.resolve();
  private nextPass: Promise<void> | undefined;
  private readonly queue: ChannelWrite[] = [];
  private pumping = false;
  private inFlight: InFlight | undefined;
  /** Watchers (subscriptions on this node) and writes in progress: a chain in use is never evicted. */
  uses = 0;

  constructor(
    readonly channel: Uint8Array,
    private readonly ctx: ChainContext,
  ) {
    this.window = new ChainWindow(ctx.windowFrames);
  }

  private get subject(): string {
    return this.ctx.subjects.channel(this.channel);
  }

  get lastSeq(): bigint {
    return this.state.lastSeq;
  }

  get idle(): boolean {
    return this.uses === 0 && this.queue.length === 0 && !this.pumping;
  }

  /** Stream seq of the record holding `seq`, if this node knows it without searching. */
  locate(seq: bigint): number | undefined {
    return this.window.locate(seq);
  }

  /** Loads the channel (once): its last record's state, then the window's ids from the records before. */
  load(): Promise<void> {
    this.loading ??= this.doLoad().catch((error: unknown) => {
      this.loading = undefined;
      throw this.ctx.unavailable("load", error);
    });
    return this.loading;
  }

  private async doLoad(): Promise<void> {
    const last = await this.ctx.reader.last(this.subject);
    if (last !== undefined) {
      const head = decodeRecord(last.seq, last.header, undefined);
      if (head.win > 0 && head.win < last.seq) {
        for await (const m of this.ctx.reader.range(this.subject, head.win, last.seq - 1, true)) this.window.add(decodeRecord(m.seq, m.header, undefined));
      }
      this.window.add(head);
      this.state = head.state;
      this.lastStreamSeq = head.streamSeq;
    }
    this.ready = true;
    const held = this.held;
    this.held = [];
    for (const record of held) this.offer(record);
  }

  /** Whether the record at stream seq `seq` is applied already (the node's own records come back through its consumer). */
  holds(seq: number): boolean {
    return this.ready && seq <= this.lastStreamSeq;
  }

  /** A record of this channel from the node's live consumer. */
  offer(record: ChannelRecord): void {
    if (!this.ready) {
      if (this.loading !== undefined) this.held.push(record);
      return;
    }
    if (!this.apply(record)) void this.catchUp().catch((error: unknown) => this.ctx.report(`channel catch-up failed: ${(error as Error).message}`));
  }

  /**
   * Applies the next record of the chain: false if it does not follow the last one applied (one
   * was missed: the caller reads the chain). A record applied before is ignored.
   */
  private apply(record: ChannelRecord): boolean {
    if (record.streamSeq <= this.lastStreamSeq) return true;
    if (record.prev !== this.lastStreamSeq) return false;
    this.state = record.state;
    this.lastStreamSeq = record.streamSeq;
    this.lastHeard = Date.now();
    this.window.add(record);
    const own = this.inFlight;
    if (own !== undefined && !own.landed && own.msgId === record.msgId) {
      own.landed = true;
      this.settle(own.plan);
    } else if (record.frames.length > 0) {
      this.ctx.emit(
        this.channel,
        record.frames.map((envelope, i) => frameOf(envelope, record.first + BigInt(i))),
      );
    }
    return true;
  }

  /** When the chain last heard of its subject (a record applied, or the end checked): the sweep looks at quiet ones. */
  lastHeard = Date.now();

  /**
   * Checks that no record went by unseen (the node's live consumer lost with a NATS server until
   * it is made again): reads the chain's end and catches up if it is further.
   */
  async checkEnd(): Promise<void> {
    if (!this.ready) return;
    this.lastHeard = Date.now();
    const last = await this.ctx.reader.last(this.subject);
    if (last !== undefined && last.seq > this.lastStreamSeq) await this.catchUp();
  }

  /**
   * Reads the records after the last one applied, up to the chain's end, and applies them. Passes
   * run one at a time; the promise is of a pass that starts after this call (one not yet started
   * serves every call made before it starts), so what was stored before the call is applied when
   * it resolves.
   */
  catchUp(): Promise<void> {
    if (this.nextPass !== undefined) return this.nextPass;
    const pass = this.passes.then(() => {
      this.nextPass = undefined;
      return this.doCatchUp();
    });
    this.nextPass = pass;
    this.passes = pass.catch(() => undefined);
    return pass;
  }

  private async doCatchUp(): Promise<void> {
    await this.load();
    for (;;) {
      const last = await this.ctx.reader.last(this.subject);
      if (last === undefined || last.seq <= this.lastStreamSeq) return;
      for await (const m of this.ctx.reader.range(this.subject, this.lastStreamSeq + 1, last.seq)) {
        const record = decodeRecord(m.seq, m.header, m.data);
        if (!this.apply(record)) {
          // The records between were purged (retention outran this node): start again from the end.
          this.ctx.report("a channel's records were purged under this node; reloading it");
          this.reset();
          await this.load();
          break;
        }
      }
      if (this.lastStreamSeq >= last.seq) return;
    }
  }

  private reset(): void {
    this.ready = false;
    this.loading = undefined;
    this.state = EMPTY_STATE;
    this.lastStreamSeq = 0;
  }

  /** Queues writes; they are decided, published and settled in order. */
  write(writes: readonly ChannelWrite[]): void {
    this.queue.push(...writes);
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      await this.drain();
    } catch (error) {
      // Whatever went wrong (NATS, or a bug) costs the writes it met, not the node; they may retry.
      this.ctx.report(`a channel's writes failed: ${(error as Error).message}`);
      this.fail(this.queue.length, this.ctx.unavailable("publish", error));
    } finally {
      this.pumping = false;
      // Writes queued while the last step was being left behind would wait for the next write.
      if (this.queue.length > 0) void this.pump();
    }
  }

  private async drain(): Promise<void> {
    /** The head write whose refusal was checked against the chain's end. */
    let checked: ChannelWrite | undefined;
    while (this.queue.length > 0) {
      try {
        await this.load();
      } catch (error) {
        this.fail(this.queue.length, error);
        continue;
      }
      const head = this.queue[0]!;
      let sizes: Map<string, number> | undefined;
      if (head.op === "handshake" && head.kind === "GroupCommit" && head.welcome !== undefined) {
        try {
          sizes = await this.ctx.inboxSizes(head.welcome.recipients);
        } catch (error) {
          this.fail(1, this.ctx.unavailable("inbox_read", error));
          continue;
        }
      }
      const plan = this.plan(sizes);
      if (plan.record === undefined) {
        // Refusals a state older than the chain's end could make wrongly (the channel was opened,
        // or its epoch moved on, through another node): decided again once the end is read.
        // Other refusals only grow more certain with a newer state, and a record's compare-and-set
        // checks the state it was planned on.
        if (checked !== head && plan.results.some(mayBeOutdated)) {
          checked = head;
          try {
            await this.catchUp();
          } catch (error) {
            this.fail(plan.writes.length, this.ctx.unavailable("read", error));
          }
          continue;
        }
        this.queue.splice(0, plan.writes.length);
        this.settle(plan);
        continue;
      }
      const outcome = await this.publish(plan);
      if (outcome === "conflict") continue;
      this.queue.splice(0, plan.writes.length);
      if (outcome !== "landed") this.settleFailure(plan, outcome);
    }
  }

  /** Answers the first `n` queued writes with `error` as their failure. */
  private fail(n: number, error: unknown): void {
    const writes = this.queue.splice(0, n);
    const failure = this.failure(error);
    this.ctx.settle(() => writes.forEach((w) => (w.done as (r: WriteFailure) => void)(failure)));
  }

  private failure(error: unknown): WriteFailure {
    return error instanceof StoreUnavailable ? { kind: "unavailable", reason: error.message } : { kind: "failed", error: error as Error };
  }

  private settle(plan: Plan): void {
    this.ctx.settle(() => plan.writes.forEach((w, i) => (w.done as (r: Result) => void)(plan.results[i]!)));
  }

  private settleFailure(plan: Plan, failure: WriteFailure): void {
    this.ctx.settle(() => plan.writes.forEach((w) => (w.done as (r: WriteFailure) => void)(failure)));
  }

  /**
   * Decides the writes at the head of the queue on the current state: duplicates, stale epochs,
   * refused commits, and the frames of the next record (consecutive seqs). A new handshake goes
   * in a record of its own, and a commit with a Welcome is decided only at the head of the queue,
   * where its recipients' inboxes were counted.
   */
  private plan(inboxSizes: Map<string, number> | undefined): Plan {
    const writes: ChannelWrite[] = [];
    const results: Result[] = [];
    const frames: Uint8Array[] = [];
    const ids: Buffer[] = [];
    const inBatch = new Map<string, bigint>();
    let { lastSeq, epoch, epochSeq, commitKey, totalBytes, creator } = this.state;
    let bytes = 0;
    let handshake = false;
    let opening: { creator: string; commitKey: Uint8Array } | undefined;
    let welcome: Plan["welcome"];
    for (const w of this.queue) {
      if (frames.length >= MAX_RECORD_FRAMES || handshake || opening !== undefined) break;
      if (w.op === "open") {
        if (creator !== null) {
          writes.push(w);
          results.push(creator === w.from ? "reopened" : "taken");
          continue;
        }
        // An opening is a record of its own, with no frames: the channel's first.
        if (frames.length > 0 || writes.length > 0) break;
        writes.push(w);
        results.push("opened");
        opening = { creator: w.from, commitKey: w.commitKey };
        creator = w.from;
        commitKey = w.commitKey;
        epoch = 0n;
        epochSeq = 0n;
        continue;
      }
      const id = messageId(w.body);
      const key = id.toString("latin1");
      const seen = this.window.seqOf(key) ?? inBatch.get(key);
      const stored = (): bigint => {
        lastSeq++;
        setEnvelopeId(w.delivery, lastSeq);
        frames.push(w.delivery);
        ids.push(id);
        inBatch.set(key, lastSeq);
        bytes += w.delivery.length;
        totalBytes += BigInt(w.body.length);
        return lastSeq;
      };
      if (w.op === "handshake") {
        if (seen !== undefined) {
          writes.push(w);
          results.push({ kind: "accepted", seq: seen, epoch: this.window.epochAfter(key) ?? (w.kind === "GroupCommit" ? w.epoch + 1n : w.epoch), duplicate: true });
          continue;
        }
        if (creator === null) {
          writes.push(w);
          results.push({ kind: "unknown" });
          continue;
        }
        if (epoch !== w.epoch) {
          writes.push(w);
          // An opened channel has an epoch from its opening on.
          results.push({ kind: "stale", epoch: epoch ?? 0n, winningSeq: epochSeq });
          continue;
        }
        const isCommit = w.kind === "GroupCommit";
        if (frames.length > 0 || (isCommit && w.welcome !== undefined && writes.length > 0)) break;
        let authorized: boolean;
        try {
          authorized = !isCommit || (commitKey !== null && (w.authorization?.verify(commitKey) ?? false));
        } catch (error) {
          writes.push(w);
          results.push({ kind: "failed", error: error as Error });
          continue;
        }
        if (!authorized) {
          writes.push(w);
          results.push({ kind: "unauthorized" });
          continue;
        }
        if (isCommit && w.welcome !== undefined) {
          const limit = w.welcome.maxInboxItems;
          const full = w.welcome.recipients.find((r) => (inboxSizes?.get(r) ?? 0) >= limit);
          if (full !== undefined) {
            writes.push(w);
            results.push({ kind: "inbox_full", recipient: full });
            continue;
          }
        }
        // The Welcome's intent carries the commit and the Welcome in one message.
        const welcomeBytes = isCommit && w.welcome !== undefined ? w.welcome.envelope(0n).length + INTENT_ROOM : 0;
        if (w.delivery.length + welcomeBytes > this.ctx.recordBytes) {
          writes.push(w);
          results.push({ kind: "too_large", reason: `a commit and its Welcome may take ${this.ctx.recordBytes} bytes in this relay's store (NATS max_payload less headers)` });
          continue;
        }
        const after = isCommit ? w.epoch + 1n : w.epoch;
        writes.push(w);
        const seq = stored();
        results.push({ kind: "accepted", seq, epoch: after, duplicate: false });
        if (isCommit) {
          if (w.authorization !== undefined) commitKey = w.authorization.nextKey;
          epochSeq = seq;
        }
        if (isCommit || epoch === null) epoch = after;
        if (isCommit && w.welcome !== undefined) welcome = { recipients: [...new Set(w.welcome.recipients)], envelope: w.welcome.envelope(seq) };
        handshake = true;
        continue;
      }
      if (seen !== undefined) {
        writes.push(w);
        results.push({ kind: "stored", seq: seen, duplicate: true });
        continue;
      }
      if (creator === null) {
        writes.push(w);
        results.push({ kind: "unknown" });
        continue;
      }
      if (w.op === "message" && epoch !== null && w.epoch + MSG_EPOCH_SLACK < epoch) {
        writes.push(w);
        results.push({ kind: "stale", epoch });
        continue;
      }
      if (w.op === "message" && epoch !== null && w.epoch > epoch) {
        writes.push(w);
        results.push({ kind: "ahead", epoch });
        continue;
      }
      if (bytes + w.delivery.length > this.ctx.recordBytes) {
        if (frames.length > 0) break;
        writes.push(w);
        results.push({ kind: "too_large", reason: `a frame may take ${this.ctx.recordBytes} bytes in this relay's store (NATS max_payload less headers)` });
        continue;
      }
      writes.push(w);
      results.push({ kind: "stored", seq: stored(), duplicate: false });
    }
    if (frames.length === 0 && opening === undefined) return { writes, results, record: undefined, welcome: undefined };
    const idBytes = new Uint8Array(Buffer.concat(ids));
    const prev = this.lastStreamSeq;
    const state: ChannelState = { lastSeq, epoch, epochSeq, commitKey, totalBytes, creator };
    const record = {
      prev,
      first: lastSeq - BigInt(frames.length) + 1n,
      ids: idBytes,
      state,
      win: this.window.start(lastSeq, prev === 0 ? 0 : prev),
      handshake,
      msgId: recordMsgId(this.channel, prev, idBytes, opening),
      frames,
    };
    return { writes, results, record, welcome };
  }

  /**
   * Publishes the plan's record after the last one applied. "landed": it is in the chain (and its
   * writes settled); "conflict": another record took the place (the chain was read up to it);
   * otherwise why the writes are not stored.
   */
  private async publish(plan: Plan): Promise<"landed" | "conflict" | WriteFailure> {
    const record = plan.record!;
    let intent: WelcomeIntent | undefined;
    if (plan.welcome !== undefined) {
      try {
        intent = await this.ctx.welcomes.announce(this.channel, record, plan.welcome.recipients, plan.welcome.envelope);
      } catch (error) {
        return this.failure(this.ctx.unavailable("publish", error));
      }
      this.ctx.faults.welcomeAnnounced?.();
    }
    const own: InFlight = { msgId: record.msgId, plan, landed: false };
    this.inFlight = own;
    const { headers, body } = encodeRecord(record);
    const deadline = Date.now() + PUBLISH_PATIENCE_MS;
    try {
      for (let attempt = 0; ; attempt++) {
        const started = performance.now();
        let error: unknown;
        try {
          const ack = await this.ctx.js.publish(this.subject, body, { headers, expect: { lastSubjectSequence: record.prev }, timeout: 4000 });
          this.ctx.metrics.observe("publish", (performance.now() - started) / 1000);
          // Seen already if the live consumer brought it first; otherwise it follows the last one applied.
          if (!own.landed) this.apply({ ...record, streamSeq: ack.seq });
        } catch (e) {
          error = e;
        }
        if (error !== undefined && this.ctx.isRefusal(error)) {
          this.ctx.metrics.error("publish", "refused");
          if (intent !== undefined) this.ctx.welcomes.settled(intent, "lost");
          return { kind: "too_large", reason: `the store refused this as too large: ${(error as Error).message}` };
        }
        const conflict = error !== undefined && this.ctx.isConflict(error);
        if (conflict) this.ctx.metrics.error("publish", "conflict");
        if (!own.landed && (error === undefined || conflict)) {
          // Whether the place went to this record (an earlier try whose answer was lost) or another: the chain says.
          try {
            await this.catchUp();
          } catch (e) {
            error = e;
          }
        }
        if (own.landed) {
          if (intent !== undefined) {
            this.ctx.faults.commitLanded?.();
            this.ctx.welcomes.settled(intent, "won");
          }
          return "landed";
        }
        if (conflict && error !== undefined && this.ctx.isConflict(error)) {
          if (intent !== undefined) this.ctx.welcomes.settled(intent, "lost");
          return "conflict";
        }
        // The outcome is unknown (NATS failing over): the same record at the same place again is
        // recognised, by its compare-and-set failing while the chain shows it.
        this.ctx.metrics.error("publish", "unavailable");
        if (Date.now() > deadline) return this.failure(this.ctx.unavailable("publish", error ?? new Error("the record was not seen in the chain")));
        await sleep(Math.min(1000, 50 * 2 ** attempt));
      }
    } finally {
      if (this.inFlight === own) this.inFlight = undefined;
    }
  }
}

/** A refusal that holds only if the state it was decided on is the chain's latest. */
function mayBeOutdated(result: Result): boolean {
  return typeof result === "object" && (result.kind === "ahead" || result.kind === "unknown");
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
