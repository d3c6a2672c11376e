import { setEnvelopeId } from "../wire/envelope.js";
import type {
  AppendResult,
  ChannelFrame,
  ChannelLog,
  ChannelWrite,
  HandshakeResult,
  InboxAppendResult,
  InboxBound,
  InboxItem,
  KeyPackagePublished,
  MessageResult,
  OpenResult,
  StoreHealth,
  StoreListener,
  StoreStats,
  WriteFailure,
} from "./channelLog.js";
import { StoreUnavailable } from "./channelLog.js";
import { encodeDelivery } from "./deliveries.js";
import { SqliteArchive } from "./sqliteArchive.js";

type SqliteOptions = ConstructorParameters<typeof SqliteArchive>[1];

/** SQLite's own errors (a full disk, a read-only or damaged file), as opposed to our bugs. */
function isSqliteError(error: unknown): boolean {
  return String((error as { code?: unknown } | undefined)?.code ?? "").startsWith("SQLITE_");
}

/** What the client hears when the disk refuses: the code only, never a row's contents. */
function unavailable(error: unknown): StoreUnavailable {
  return new StoreUnavailable(`the relay could not store this (${String((error as { code?: unknown }).code)}); retry`, { cause: error });
}

/** Runs a synchronous archive call as the seam's asynchronous one, SQLite failures as StoreUnavailable. */
function settled<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (error) {
    return Promise.reject(isSqliteError(error) ? unavailable(error) : error);
  }
}

/**
 * The embedded store: SqliteArchive behind the ChannelLog seam. A batch of writes is one SQLite
 * transaction (group commit: one per turn of the relay's event loop), and every `done` is called
 * synchronously once it has committed, so the relay answers in the same turn as before; the
 * asynchronous calls are synchronous underneath and settle at once.
 */
export class SqliteChannelLog implements ChannelLog {
  readonly archive: SqliteArchive;
  readonly description: string;
  private listener: StoreListener | undefined;

  constructor(dataDir: string, options: SqliteOptions = {}) {
    this.archive = new SqliteArchive(dataDir, options);
    this.description = `SQLite in ${dataDir}`;
  }

  listen(listener: StoreListener): void {
    this.listener = listener;
  }

  write(batch: readonly ChannelWrite[], settle: (run: () => void) => void): void {
    const results: (MessageResult | AppendResult | HandshakeResult | OpenResult | WriteFailure)[] = [];
    try {
      this.archive.atomically(() => batch.forEach((w) => results.push(this.apply(w))));
    } catch (error) {
      if (!isSqliteError(error)) throw error;
      // The whole transaction rolled back: nothing of the batch is stored.
      const failure: WriteFailure = { kind: "unavailable", reason: unavailable(error).message };
      settle(() => batch.forEach((w) => (w.done as (r: WriteFailure) => void)(failure)));
      return;
    }
    settle(() => batch.forEach((w, i) => (w.done as (r: (typeof results)[number]) => void)(results[i]!)));
    this.announceInbox();
  }

  /** One write inside the batch's transaction. A bug costs that write only; SQLite's errors fail the batch. */
  private apply(w: ChannelWrite): MessageResult | AppendResult | HandshakeResult | OpenResult | WriteFailure {
    try {
      if (w.op === "open") return this.archive.openChannel(w.channel, w.from, w.commitKey);
      const result =
        w.op === "message"
          ? this.archive.appendMessage(w.channel, w.body, w.from, w.epoch)
          : w.op === "through"
            ? this.archive.append(w.channel, w.kind, w.body, w.from)
            : this.archive.appendHandshake(w.channel, w.kind, w.body, w.from, w.epoch, w.welcome, w.authorization);
      if ((result.kind === "stored" || result.kind === "accepted") && !result.duplicate) setEnvelopeId(w.delivery, result.seq);
      return result;
    } catch (error) {
      if (isSqliteError(error)) throw error;
      return { kind: "failed", error: error as Error };
    }
  }

  /** Hands the inbox items just committed to the relay, which pushes them to their readers. */
  private announceInbox(): void {
    for (const [principal, item] of this.archive.takeNewInboxItems()) this.listener?.inbox(principal, item);
  }

  read(channel: Uint8Array, fromSeq: bigint, limit: number, maxBytes?: number): Promise<ChannelFrame[]> {
    return settled(() =>
      this.archive.read(channel, fromSeq, limit, maxBytes).map((f) => ({ seq: f.seq, kind: f.kind, envelope: encodeDelivery(channel, f.kind, f.body, f.from, f.seq) })),
    );
  }

  watch(channel: Uint8Array): Promise<bigint> {
    return this.lastSeq(channel);
  }

  unwatch(): void {
    // Every frame of this relay goes through its own writes: there is nothing to follow.
  }

  lastSeq(channel: Uint8Array): Promise<bigint> {
    return settled(() => this.archive.lastSeq(channel));
  }

  async appendInbox(principal: string, envelope: Uint8Array, bound: InboxBound): Promise<InboxAppendResult> {
    const result = await settled(() => this.archive.appendInbox(principal, envelope, bound));
    if (result.kind === "stored") this.announceInbox();
    return result;
  }

  readInbox(principal: string, fromSeq: bigint, limit: number, maxBytes?: number): Promise<InboxItem[]> {
    return settled(() => this.archive.readInbox(principal, fromSeq, limit, maxBytes));
  }

  ackInbox(principal: string, upToSeq: bigint): Promise<void> {
    return settled(() => this.archive.ackInbox(principal, upToSeq));
  }

  lastInboxSeq(principal: string): Promise<bigint> {
    return settled(() => this.archive.lastInboxSeq(principal));
  }

  publishKeyPackage(principal: string, keyPackage: Uint8Array, lastResort: boolean): Promise<KeyPackagePublished> {
    return settled(() => this.archive.publishKeyPackage(principal, keyPackage, lastResort));
  }

  takeKeyPackage(principal: string): Promise<Uint8Array | undefined> {
    return settled(() => this.archive.takeKeyPackage(principal));
  }

  claimName(name: string, principal: string, authoritative: boolean): Promise<boolean> {
    return settled(() => this.archive.claimName(name, principal, authoritative));
  }

  nameOwner(name: string): Promise<string | undefined> {
    return settled(() => this.archive.nameOwner(name));
  }

  prune(nowMs: number, olderThanMs: number, maxBytesPerChannel: number): Promise<number> {
    return settled(() => this.archive.prune(nowMs, olderThanMs, maxBytesPerChannel));
  }

  stats(): Promise<StoreStats> {
    return settled(() => this.archive.stats());
  }

  health(): StoreHealth {
    return { ok: true, detail: "storage: sqlite" };
  }

  close(): Promise<void> {
    this.archive.close();
    return Promise.resolve();
  }
}
