import { MlsError } from "../mls/errors.js";
import { MAX_BATCH, type ReceiveOutcome } from "../mls/mlsAgent.js";
import type { AgentStore } from "../store/agentStore.js";
import { StoreError } from "../store/errors.js";
import type { ChannelDelivery, InboxDelivery, InboxEnvelope } from "../transport/deliveries.js";
import type { EnvelopeOf } from "../wire/envelope.js";
import { readMlsRouting } from "../wire/mlsHeader.js";
import { hex, type Core } from "./core.js";
import type { RemovalWatch } from "./removalWatch.js";
import { StreamBacklog } from "./streamBacklog.js";
import { StreamGuard } from "./streamGuard.js";

const INBOX_CURSOR = "relay_inbox_cursor";
/** The backlog's key for the inbox stream; channels are keyed by their group id in hex. */
const INBOX_STREAM = "inbox";
/** Backoff while the data dir cannot be written (disk full, read-only): first and longest pause. */
const STORE_RETRY_FIRST_MS = 250;
const STORE_RETRY_MAX_MS = 5_000;

/** The inbox seq to resume from (the one after the last applied). */
export function nextInboxSeq(store: AgentStore): bigint {
  return BigInt(store.setting(INBOX_CURSOR) ?? "0") + 1n;
}

/** What the stream hands to the other parts of the channel manager. */
export interface StreamHooks {
  /** What a processed frame (or batch) did. */
  outcomes(channel: string, outcomes: ReceiveOutcome[]): void;
  /** The relay serves a frame (`commit`: a commit) at this agent's own epoch it cannot read, even when fetched again. */
  forkEvidence(channel: string, seq: number, commit: boolean): Promise<void>;
  /** A JoinRequest met in the channel's order, sent by the holder of identity key `from`. */
  joinRequest(channel: string, payload: Uint8Array, from: Uint8Array): void;
  /** A Welcome from the inbox. */
  welcome(envelope: EnvelopeOf<"GroupWelcome">): Promise<void>;
  /** A JoinReply from the inbox: a member's answer to a join request of ours (untrusted until checked). */
  joinReply(payload: Uint8Array): void;
  readonly watchingRemovals: RemovalWatch;
}

/**
 * Applies the relay's stream: every channel's frames and the inbox go through one promise chain,
 * strictly in relay order. Owns that chain and what waits in it (bounded by the backlog; a stream
 * that overflows is fetched again from its cursor), the guard that checks each channel's order
 * (gaps and unverifiable frames are fetched again before being skipped and reported), batches of
 * application frames (one store transaction each), the incarnation each delivery arrived in, and
 * the epoch each channel was joined at (frames from before are history, unreadable by design).
 */
export class RelayStream {
  private chain: Promise<void> = Promise.resolve();
  private readonly backlog: StreamBacklog;
  private readonly guard = new StreamGuard((channel, fromSeq) => this.refetch(channel, fromSeq));
  /** Application frames of one channel queued on the chain and not started yet; later ones join it. */
  private openBatch: ChannelDelivery[] | undefined;
  /** The incarnation of its group each delivery arrived in. */
  private readonly deliveredIn = new WeakMap<ChannelDelivery, number>();
  /** Epoch a channel was joined at: frames from before it are history, unreadable by design. */
  private readonly joinedAtEpoch = new Map<string, bigint>();

  constructor(
    private readonly core: Core,
    private readonly hooks: StreamHooks,
  ) {
    this.backlog = new StreamBacklog(core.config.streamBacklog);
  }

  /** A frame of a channel, live or replayed. */
  onChannel(d: ChannelDelivery): void {
    this.deliveredIn.set(d, this.core.channels.incarnation(hex(d.channel)));
    const stream = hex(d.channel);
    if (!this.queues(stream, d)) return;
    // Application messages that arrive while the chain is busy are applied together, still
    // strictly in relay order: a frame joins the batch only if nothing else was queued after it.
    const batch = this.openBatch;
    const joins = batch !== undefined && batch.length < MAX_BATCH && d.envelope.type === "Msg" && Buffer.compare(batch[0]!.channel, d.channel) === 0;
    if (joins) return void batch.push(d);
    if (d.envelope.type !== "Msg") {
      this.openBatch = undefined;
      return this.enqueueFrames(stream, [d], () => this.untilStored(() => this.onChannelFrame(d)));
    }
    const fresh = [d];
    this.openBatch = fresh;
    this.enqueueFrames(stream, fresh, async () => {
      if (this.openBatch === fresh) this.openBatch = undefined;
      const rest = fresh.length === 1 ? fresh : await this.untilStored(() => this.onMessageBatch(fresh));
      for (const frame of rest) await this.untilStored(() => this.onChannelFrame(frame));
    });
  }

  /** A frame of the inbox. */
  onInbox(d: InboxDelivery): void {
    if (!this.queues(INBOX_STREAM, d)) return;
    this.openBatch = undefined;
    this.enqueueFrames(INBOX_STREAM, [d], () => this.untilStored(() => this.onInboxItem(d)));
  }

  /** The relay acknowledged a subscription (of a channel, or of the inbox) that holds `lastSeq`. */
  onSubscribed(groupId: Uint8Array | undefined, lastSeq: bigint): void {
    this.openBatch = undefined;
    const channel = groupId && this.core.channels.channelOf(hex(groupId));
    if (channel === undefined) return;
    // Every link's subscription, not only the first: a send waits for what the relay holds now.
    this.core.channels.noteHead(channel, Number(lastSeq));
    this.enqueue(async () => this.guard.subscribed(channel));
  }

  /** The relay stream is applied strictly in order, one step at a time. */
  enqueue(step: () => Promise<void>): void {
    this.chain = this.chain.then(step).catch((e: unknown) => this.core.log(`while applying the relay stream: ${(e as Error).message}`));
  }

  /**
   * A frame that cannot be stored (disk full, read-only data dir) must not be skipped, or it would
   * be lost: the stream stalls and the step is retried until it is stored or the agent closes.
   * A failed step changes nothing (each MLS step is one transaction), so repeating it is exact.
   */
  async untilStored<T>(step: () => Promise<T>): Promise<T> {
    for (let delay = STORE_RETRY_FIRST_MS; ; delay = Math.min(delay * 2, STORE_RETRY_MAX_MS)) {
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof StoreError) || this.core.progress.closed) throw error;
        this.core.log(`${error.message}; the relay stream waits and retries in ${delay / 1000} s`);
        await this.core.progress.pause(delay);
      }
    }
  }

  /** The channel was joined at `epoch`: earlier frames of its replay are history. */
  joinedAt(channel: string, epoch: bigint): void {
    this.joinedAtEpoch.set(channel, epoch);
  }

  /** Whether the frame at `seq` was refused (skipped) by this agent. */
  refusedAt(channel: string, seq: number): boolean {
    return this.guard.refused(channel, seq);
  }

  forget(channel: string): void {
    this.guard.forget(channel);
    this.joinedAtEpoch.delete(channel);
  }

  /** Resolves once every step queued so far has run. */
  settled(): Promise<void> {
    return this.chain;
  }

  private refetch(channel: string, fromSeq: number): void {
    this.core.log(`fetching ${channel} again from seq ${fromSeq}: a frame was missing or did not verify`);
    this.core.channels.refetch(channel, fromSeq);
  }

  /** Queues a step that applies `frames` of `stream` (admitted to the backlog); they leave it when it ends. */
  private enqueueFrames(stream: string, frames: readonly (ChannelDelivery | InboxDelivery)[], step: () => Promise<void>): void {
    this.enqueue(async () => {
      try {
        await step();
      } finally {
        const bytes = frames.reduce((sum, d) => sum + deliverySize(d), 0);
        for (const resumed of this.backlog.done(stream, frames.length, bytes)) this.fetchAgain(resumed);
      }
    });
  }

  /**
   * Whether a delivery joins the stream's queue. One that would overflow it is dropped: the relay
   * keeps it, and its stream is fetched again once none of its frames is queued (see StreamBacklog).
   */
  private queues(stream: string, d: ChannelDelivery | InboxDelivery): boolean {
    const admission = this.backlog.admit(stream, deliverySize(d));
    if (admission.kind === "queued") return true;
    if (admission.first) {
      const { frames, bytes } = this.backlog.size;
      const what = stream === INBOX_STREAM ? "the inbox" : `channel ${this.core.channels.channelOf(stream) ?? "(unknown)"}`;
      this.core.log(`the relay is ${frames} frames (${Math.ceil(bytes / 1024)} KiB) ahead of this agent; ${what} is fetched again once they are applied`);
    }
    return false;
  }

  /** A stream whose frames were dropped: replayed from its cursor, the frames since included. */
  private fetchAgain(stream: string): void {
    const { relay, store, channels } = this.core;
    if (stream === INBOX_STREAM) return relay.refetchInbox(nextInboxSeq(store));
    const channel = channels.channelOf(stream);
    if (channel === undefined) return;
    const fromSeq = channels.nextSeq(channel);
    this.guard.replaying(channel, fromSeq);
    relay.refetch(new Uint8Array(Buffer.from(stream, "hex")), BigInt(fromSeq));
  }

  /** A frame delivered for a membership of its channel that has ended since (removed, then added back). */
  private stale(d: ChannelDelivery): boolean {
    return this.deliveredIn.get(d) !== this.core.channels.incarnation(hex(d.channel));
  }

  /**
   * A batch of application frames: the run that is next in the stream and in order goes through
   * receiveAll in one transaction. Returns what is left for the frame-by-frame path: everything
   * when the batch does not continue the stream (the guard decides), else the frames from the
   * first one the MLS layer refused (re-fetch and skip decisions are made there).
   */
  private async onMessageBatch(batch: ChannelDelivery[]): Promise<ChannelDelivery[]> {
    const { mls, channels } = this.core;
    if (batch.some((d) => this.stale(d))) return batch;
    const channel = channels.channelOf(hex(batch[0]!.channel));
    if (channel === undefined) return [];
    const first = Number(batch[0]!.seq);
    const dense = batch.every((d, i) => Number(d.seq) === first + i);
    if (!dense || this.guard.admit(channel, first, channels.nextSeq(channel)).kind !== "process") return batch;
    const frames = batch.map((d) => ({ bytes: d.envelope.type === "Msg" ? d.envelope.body : new Uint8Array(0), seq: Number(d.seq) }));
    let results: ReceiveOutcome[][];
    try {
      results = await this.hooks.watchingRemovals(channel, () => mls.receiveAll(channel, frames));
    } catch (error) {
      if (error instanceof MlsError && error.code === "not_found") return [];
      throw error;
    }
    results.forEach((outcomes, i) => {
      this.hooks.outcomes(channel, outcomes);
      this.guard.passed(channel, frames[i]!.seq);
    });
    if (results.length > 0) this.markProcessed(channel, frames[results.length - 1]!.seq);
    return mls.channels().includes(channel) ? batch.slice(results.length) : [];
  }

  private markProcessed(channel: string, seq: number): void {
    this.core.channels.markProcessed(channel, seq);
    this.core.progress.wake();
  }

  private async onChannelFrame(d: ChannelDelivery): Promise<void> {
    const { mls, channels, warnings } = this.core;
    if (this.stale(d)) return;
    const channel = channels.channelOf(hex(d.channel));
    if (channel === undefined) return;
    const seq = Number(d.seq);
    const admission = this.guard.admit(channel, seq, channels.nextSeq(channel));
    if (admission.kind === "duplicate" || admission.kind === "hold") return;
    if (admission.kind === "gap") {
      const missing = admission.from === admission.to ? `frame ${admission.from}` : `frames ${admission.from}-${admission.to}`;
      warnings.warn(channel, "frames_missing", `the relay did not deliver ${missing} of this channel even when asked again; anything in them is lost to this agent`, admission.from);
    }
    const e = d.envelope;
    if (e.type === "Msg" || e.type === "GroupProposal" || e.type === "GroupCommit") {
      const body = e.type === "GroupCommit" ? e.commit : e.body;
      try {
        const outcomes = await this.hooks.watchingRemovals(channel, () => mls.receive(channel, body, seq));
        this.hooks.outcomes(channel, outcomes);
      } catch (error) {
        if (!(error instanceof MlsError)) throw error;
        if (error.code === "not_found") return;
        if (!(await this.refused(channel, seq, body, error.code, e.type === "GroupCommit"))) return;
        if (!mls.channels().includes(channel)) return;
      }
    } else {
      if (e.type === "JoinRequest") this.hooks.joinRequest(channel, e.payload, e.from);
      await mls.skip(channel, seq).catch(() => undefined);
    }
    this.guard.passed(channel, seq);
    this.markProcessed(channel, seq);
  }

  /**
   * A frame the MLS layer refused: fetched again once (it may have been altered on the way);
   * refused again, it is skipped and reported. Returns false while it is being fetched again.
   */
  private async refused(channel: string, seq: number, body: Uint8Array, code: MlsError["code"], commit: boolean): Promise<boolean> {
    const { mls, warnings, log } = this.core;
    const frameEpoch = readMlsRouting(body).epoch;
    const history = code === "epoch_mismatch" && frameEpoch < (this.joinedAtEpoch.get(channel) ?? 0n);
    const verdict = this.guard.failed(channel, seq, body, history);
    if (verdict.kind === "refetch") return false;
    await mls.skip(channel, seq);
    if (!verdict.refetched) {
      log(`dropped frame ${seq} of ${channel}: ${code}`);
      return true;
    }
    const epoch = await mls.channelInfo(channel).then((i) => i.epoch, () => undefined);
    const atOurEpoch = code === "decryption_failure" && epoch !== undefined && frameEpoch === epoch;
    if (verdict.confirmed && atOurEpoch) {
      await this.hooks.forkEvidence(channel, seq, commit);
    } else {
      log(`skipped frame ${seq} of ${channel}: ${code}, also when fetched again`);
      warnings.warn(channel, "frame_rejected", `frame ${seq} of this channel did not verify (${code}), even when fetched again; it was skipped`, seq);
    }
    return true;
  }

  private async onInboxItem(d: InboxDelivery): Promise<void> {
    const e: InboxEnvelope = d.envelope;
    if (e.type === "GroupWelcome") await this.hooks.welcome(e);
    else if (e.type === "JoinReply") this.hooks.joinReply(e.payload);
    this.core.store.setSetting(INBOX_CURSOR, d.seq.toString());
    await this.core.relay.ackInbox(d.seq).catch(() => undefined);
    this.core.progress.wake();
  }
}

/** The bytes a queued delivery holds, for the backlog's bound (headers are small and fixed). */
function deliverySize(d: ChannelDelivery | InboxDelivery): number {
  const e = d.envelope;
  switch (e.type) {
    case "Msg":
    case "GroupProposal":
      return e.body.length;
    case "GroupCommit":
      return e.commit.length + (e.welcome?.welcome.length ?? 0);
    case "GroupWelcome":
      return e.welcome.length;
    default:
      return e.payload.length;
  }
}
