import { jetstream, jetstreamManager, JetStreamApiError, type JetStreamClient, type JetStreamManager, type JsMsg } from "@nats-io/jetstream";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  StoreUnavailable,
  type ChannelFrame,
  type ChannelLog,
  type ChannelWrite,
  type InboxAppendResult,
  type InboxBound,
  type InboxItem,
  type KeyPackagePublished,
  type StoreHealth,
  type StoreListener,
  type StoreStats,
  type WriteFailure,
} from "../channelLog.js";
import type { StoreMetrics } from "../metrics.js";
import { DEDUP_WINDOW_FRAMES } from "../sqliteArchive.js";
import type { ChainContext, ChainFaults } from "./chainContext.js";
import { ChannelChain } from "./channelChain.js";
import { NatsDirectory } from "./directory.js";
import { NatsInboxes, readInboxRecord } from "./inboxes.js";
import { LiveFeed } from "./liveFeed.js";
import { decodeRecord, frameOf, RecordError } from "./records.js";
import { pruneChannels } from "./retention.js";
import { connectNats, ensureStreams, versionRefusal, type NatsOptions } from "./streams.js";
import { StreamReader } from "./streamReader.js";
import { subjectsFor, type Subjects } from "./subjects.js";
import { WELCOME_GRACE_MS, WelcomeDesk } from "./welcomes.js";

/** Channels a node keeps loaded while nothing uses them (a used one is never dropped). */
const IDLE_CHAINS = 1024;
/** Room left in a NATS message for a record's headers. */
const HEADER_ROOM = 64 * 1024;
/** Writes waiting for the store at most; past it they are answered "unavailable" at once. */
const MAX_QUEUED_WRITES = 100_000;
/** How often watched channels that were quiet for as long are checked against their subject's end. */
const SWEEP_MS = 2000;
/** Channels checked per sweep at most (one request each). */
const SWEEP_BATCH = 256;

const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");

/** A lost compare-and-set: "wrong last sequence". */
function isConflict(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === 10071 || error.code === 10164);
}

/** A publish the server refused for good: a message over its limits. */
function isRefusal(error: unknown): boolean {
  return error instanceof JetStreamApiError && (error.code === 10054 || /maximum payload|message size/i.test(error.message));
}

export interface NatsRuntime {
  readonly metrics: StoreMetrics;
  readonly report: (line: string) => void;
  /** Retries recognised per channel (the same as SQLite's by default). */
  readonly windowFrames?: number;
  /** How old a Welcome intent must be before any node finishes it (default WELCOME_GRACE_MS). */
  readonly welcomeGraceMs?: number;
  /** For crash tests: called at the two points where a node's death leaves a Welcome to another node. */
  readonly faults?: ChainFaults;
}

/**
 * The relay's storage on NATS JetStream, shared by any number of relay nodes: channel chains
 * (channelChain.ts), inboxes, the key-package directory, and Welcomes finished by any node
 * (welcomes.ts). Each node follows the channel and inbox streams with its own live consumer, so
 * that frames and inbox items stored through one node reach subscribers on every node in order.
 */
export class NatsChannelLog implements ChannelLog {
  private readonly chains = new Map<string, ChannelChain>();
  private listener: StoreListener | undefined;
  private settleWrites: (run: () => void) => void = (run) => run();
  private readonly channels: StreamReader;
  private readonly inboxes: NatsInboxes;
  private readonly directory: NatsDirectory;
  private readonly welcomes: WelcomeDesk;
  private readonly context: ChainContext;
  private readonly feeds: LiveFeed[] = [];
  private connected = true;
  private closing = false;
  private sweepTimer: NodeJS.Timeout | undefined;
  private queuedWrites = 0;
  readonly description: string;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly subjects: Subjects,
    readonly replicas: number,
    private readonly runtime: NatsRuntime,
    servers: readonly string[],
  ) {
    this.description = `NATS JetStream at ${servers.join(",")} (streams ${subjects.streams.channels.replace(/_CH$/, "_*")}, ${replicas} replica${replicas === 1 ? "" : "s"})`;
    const metrics = runtime.metrics;
    this.channels = new StreamReader(js, jsm, subjects.streams.channels, metrics);
    const inboxReader = new StreamReader(js, jsm, subjects.streams.inboxes, metrics);
    this.inboxes = new NatsInboxes(js, jsm, subjects, inboxReader, metrics, isConflict);
    this.directory = new NatsDirectory(js, jsm, subjects, new StreamReader(js, jsm, subjects.streams.keyPackages, metrics), metrics, isConflict);
    this.welcomes = new WelcomeDesk(js, jsm, subjects, this.channels, this.inboxes, metrics, isConflict, runtime.report, runtime.welcomeGraceMs ?? WELCOME_GRACE_MS);
    this.context = {
      subjects,
      js,
      reader: this.channels,
      metrics,
      welcomes: this.welcomes,
      windowFrames: runtime.windowFrames ?? DEDUP_WINDOW_FRAMES,
      recordBytes: (nc.info?.max_payload ?? 1024 * 1024) - HEADER_ROOM,
      emit: (channel, frames) => this.listener?.frames(channel, frames),
      settle: (run) => this.settleWrites(run),
      inboxSizes: async (principals) => new Map(await Promise.all(principals.map(async (p) => [p, await this.inboxes.size(p)] as const))),
      unavailable: (op, error) => this.unavailable(op, error),
      isConflict,
      isRefusal,
      report: runtime.report,
      faults: runtime.faults ?? {},
    };
  }

  /** Connects, checks the server and the streams (creating those missing), and starts following them. */
  static async open(options: NatsOptions, runtime: NatsRuntime): Promise<NatsChannelLog> {
    const nc = await connectNats(options, "skytale-relay");
    try {
      const jsm = await jetstreamManager(nc, { checkAPI: false });
      const subjects = subjectsFor(options.prefix);
      const replicas = await ensureStreams(nc, jsm, subjects, options.replicas, runtime.report);
      const log = new NatsChannelLog(nc, jetstream(nc), jsm, subjects, replicas, runtime, options.servers);
      await log.start();
      return log;
    } catch (error) {
      await nc.close().catch(() => undefined);
      throw error;
    }
  }

  private async start(): Promise<void> {
    const next = async (stream: string) => (await this.jsm.streams.info(stream)).state.last_seq + 1;
    this.feeds.push(
      new LiveFeed(this.js, this.subjects.streams.channels, this.subjects.allChannels, await next(this.subjects.streams.channels), (m) => this.onChannelRecord(m), this.runtime.report),
      new LiveFeed(this.js, this.subjects.streams.inboxes, this.subjects.allInboxes, await next(this.subjects.streams.inboxes), (m) => this.onInboxRecord(m), this.runtime.report),
    );
    for (const feed of this.feeds) await feed.start();
    await this.welcomes.start();
    void this.watchConnection().catch((error: unknown) => this.runtime.report(`NATS status watch ended: ${(error as Error).message}`));
    this.sweepTimer = setInterval(() => this.sweep(Date.now() - SWEEP_MS), SWEEP_MS);
    this.sweepTimer.unref();
  }

  /**
   * The live consumer is the fast path; this is the net under it. Watched channels that heard
   * nothing since `quietSince` are checked against their subject's end (all of them after a
   * reconnect), so that a record the consumer missed reaches their subscribers all the same.
   */
  private sweep(quietSince: number): void {
    let checked = 0;
    for (const chain of this.chains.values()) {
      if (checked >= SWEEP_BATCH) break;
      if (chain.uses === 0 || chain.lastHeard > quietSince) continue;
      checked++;
      chain.checkEnd().catch(() => undefined);
    }
  }

  private async watchConnection(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (s.type === "disconnect") this.connected = false;
      if (s.type === "reconnect") {
        this.connected = true;
        this.sweep(Number.POSITIVE_INFINITY);
        const refusal = versionRefusal(this.nc.info?.version ?? "", this.nc.info?.cluster !== undefined);
        if (refusal !== undefined) this.runtime.report(`reconnected to a NATS server the relay must not use: ${refusal}`);
      }
    }
  }

  private onChannelRecord(m: JsMsg): void {
    const channel = this.subjects.channelOf(m.subject);
    const chain = channel === undefined ? undefined : this.chains.get(hex(channel));
    // Not decoded when it is known: most records a busy node sees are its own, applied at their ack.
    if (chain === undefined || chain.holds(m.seq)) return;
    chain.offer(decodeRecord(m.seq, m.headers, m.data));
  }

  private onInboxRecord(m: JsMsg): void {
    const principal = this.subjects.principalOf(m.subject);
    if (principal === undefined) return;
    const stored = { seq: m.seq, subject: m.subject, header: m.headers, data: m.data, timeMs: 0 };
    this.inboxes.seen(principal, stored);
    const record = readInboxRecord(stored);
    if (!record.marker) this.listener?.inbox(principal, { seq: record.seq, envelope: m.data });
  }

  /** The chain of a channel, loaded on first use; idle ones beyond IDLE_CHAINS are dropped, oldest first. */
  private chain(channel: Uint8Array): ChannelChain {
    const key = hex(channel);
    let chain = this.chains.get(key);
    if (chain !== undefined) {
      this.chains.delete(key);
      this.chains.set(key, chain);
      return chain;
    }
    chain = new ChannelChain(channel.slice(), this.context);
    this.chains.set(key, chain);
    if (this.chains.size > IDLE_CHAINS) {
      for (const [k, c] of this.chains) {
        if (this.chains.size <= IDLE_CHAINS) break;
        if (c.idle && c !== chain) this.chains.delete(k);
      }
    }
    return chain;
  }

  private unavailable(op: string, error: unknown): StoreUnavailable {
    if (error instanceof StoreUnavailable) return error;
    this.runtime.metrics.error(op, error instanceof RecordError ? "malformed" : "unavailable");
    const why = error instanceof RecordError ? `the stream holds something this relay did not write (${error.message})` : (error as Error).message;
    return new StoreUnavailable(`the relay's store (NATS JetStream) is unavailable: ${why}; retry`, { cause: error });
  }

  /** Runs a store call with its failures as StoreUnavailable. */
  private async guarded<T>(op: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw this.unavailable(op, error);
    }
  }

  listen(listener: StoreListener): void {
    this.listener = listener;
  }

  write(batch: readonly ChannelWrite[], settle: (run: () => void) => void): void {
    this.settleWrites = settle;
    if (this.closing || this.queuedWrites + batch.length > MAX_QUEUED_WRITES) {
      const failure: WriteFailure = { kind: "unavailable", reason: this.closing ? "the relay is shutting down; retry" : "the relay's store is behind; retry" };
      settle(() => batch.forEach((w) => (w.done as (r: WriteFailure) => void)(failure)));
      return;
    }
    const byChannel = new Map<string, ChannelWrite[]>();
    for (const w of batch) {
      const key = hex(w.channel);
      let list = byChannel.get(key);
      if (list === undefined) byChannel.set(key, (list = []));
      // Counted until settled: bounds what waits for a slow or unreachable NATS.
      this.queuedWrites++;
      const done = w.done as (r: unknown) => void;
      list.push({
        ...w,
        done: (result: unknown) => {
          this.queuedWrites--;
          done(result);
        },
      } as ChannelWrite);
    }
    for (const list of byChannel.values()) this.chain(list[0]!.channel).write(list);
  }

  read(channel: Uint8Array, fromSeq: bigint, limit: number, maxBytes = Number.POSITIVE_INFINITY): Promise<ChannelFrame[]> {
    return this.guarded("read", async () => {
      const subject = this.subjects.channel(channel);
      const last = await this.channels.last(subject);
      if (last === undefined) return [];
      if (fromSeq > decodeRecord(last.seq, last.header, undefined).state.lastSeq) return [];
      const start = this.chains.get(hex(channel))?.locate(fromSeq) ?? (await this.locate(subject, fromSeq, last.seq));
      const frames: ChannelFrame[] = [];
      let bytes = 0;
      // A record holds many frames: the batch stops at the frame that would pass either bound.
      reading: for await (const m of this.channels.range(subject, start, last.seq)) {
        const record = decodeRecord(m.seq, m.header, m.data);
        for (const [i, envelope] of record.frames.entries()) {
          const seq = record.first + BigInt(i);
          if (seq < fromSeq) continue;
          bytes += envelope.length;
          if (frames.length >= limit || (frames.length > 0 && bytes > maxBytes)) break reading;
          frames.push(frameOf(envelope, seq));
        }
      }
      return frames;
    });
  }

  /** Stream seq of the first record holding a frame at or after `seq`: a binary search over the stream's seqs. */
  private async locate(subject: string, seq: bigint, lastStreamSeq: number): Promise<number> {
    const first = await this.channels.next(subject, 0);
    if (first === undefined || first.seq >= lastStreamSeq) return lastStreamSeq;
    if (decodeRecord(first.seq, first.header, undefined).state.lastSeq >= seq) return first.seq;
    let best = lastStreamSeq;
    let [lo, hi] = [first.seq + 1, lastStreamSeq - 1];
    while (lo <= hi) {
      const mid = Math.floor((lo + hi) / 2);
      const m = await this.channels.next(subject, mid);
      if (m === undefined || m.seq > hi) {
        hi = mid - 1;
        continue;
      }
      if (decodeRecord(m.seq, m.header, undefined).state.lastSeq >= seq) {
        best = m.seq;
        hi = mid - 1;
      } else {
        lo = m.seq + 1;
      }
    }
    return best;
  }

  async watch(channel: Uint8Array): Promise<bigint> {
    const chain = this.chain(channel);
    chain.uses++;
    try {
      await chain.load();
    } catch (error) {
      chain.uses--;
      throw this.unavailable("load", error);
    }
    return chain.lastSeq;
  }

  unwatch(channel: Uint8Array): void {
    const chain = this.chains.get(hex(channel));
    if (chain !== undefined && chain.uses > 0) chain.uses--;
  }

  lastSeq(channel: Uint8Array): Promise<bigint> {
    return this.guarded("read", async () => {
      const chain = this.chains.get(hex(channel));
      // A watched chain: the last seq handed to the listener, which its followers can rely on.
      if (chain !== undefined && chain.uses > 0) {
        await chain.load();
        return chain.lastSeq;
      }
      const last = await this.channels.last(this.subjects.channel(channel));
      return last === undefined ? 0n : decodeRecord(last.seq, last.header, undefined).state.lastSeq;
    });
  }

  appendInbox(principal: string, envelope: Uint8Array, bound: InboxBound): Promise<InboxAppendResult> {
    return this.guarded("inbox_append", () => this.inboxes.append(principal, envelope, bound));
  }

  readInbox(principal: string, fromSeq: bigint, limit: number, maxBytes?: number): Promise<InboxItem[]> {
    return this.guarded("inbox_read", () => this.inboxes.read(principal, fromSeq, limit, maxBytes));
  }

  ackInbox(principal: string, upToSeq: bigint): Promise<void> {
    return this.guarded("inbox_ack", () => this.inboxes.ack(principal, upToSeq));
  }

  lastInboxSeq(principal: string): Promise<bigint> {
    return this.guarded("inbox_read", () => this.inboxes.lastSeq(principal));
  }

  publishKeyPackage(principal: string, keyPackage: Uint8Array, lastResort: boolean): Promise<KeyPackagePublished> {
    return this.guarded("key_package_publish", () => this.directory.publish(principal, keyPackage, lastResort));
  }

  takeKeyPackage(principal: string): Promise<Uint8Array | undefined> {
    return this.guarded("key_package_take", () => this.directory.take(principal));
  }

  claimName(name: string, principal: string, authoritative: boolean): Promise<boolean> {
    return this.guarded("name_claim", () => this.directory.claimName(name, principal, authoritative));
  }

  nameOwner(name: string): Promise<string | undefined> {
    return this.guarded("name_read", () => this.directory.nameOwner(name));
  }

  prune(nowMs: number, olderThanMs: number, maxBytesPerChannel: number): Promise<number> {
    return this.guarded("prune", () => pruneChannels(this.js, this.jsm, this.subjects, this.channels, nowMs, olderThanMs, maxBytesPerChannel));
  }

  stats(): Promise<StoreStats> {
    return this.guarded("stats", async () => {
      const info = await this.jsm.streams.info(this.subjects.streams.channels);
      return { channels: info.state.num_subjects ?? 0, archiveBytes: info.state.bytes };
    });
  }

  health(): StoreHealth {
    const server = this.nc.info;
    const where = server === undefined ? "" : ` (nats-server ${server.version}${server.cluster ? `, cluster ${server.cluster}` : ""}, streams ${this.subjects.streams.channels} etc., ${this.replicas} replica${this.replicas === 1 ? "" : "s"})`;
    const ok = this.connected && !this.nc.isClosed();
    return { ok, detail: `storage: nats ${ok ? "connected" : "disconnected"}${where}` };
  }

  async close(): Promise<void> {
    this.closing = true;
    clearInterval(this.sweepTimer);
    await Promise.all([...this.feeds.map((f) => f.stop()), this.welcomes.stop()]).catch(() => undefined);
    await this.nc.drain().catch(() => this.nc.close());
  }
}
