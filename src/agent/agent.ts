import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { MlsError } from "../mls/errors.js";
import { parseCredential } from "../mls/identity.js";
import { decodeKeyPackageMessage, decodeWelcomeMessage, messageDigest } from "../mls/messages.js";
import { MAX_BATCH, MlsAgent, type MlsAgentOptions, type OutgoingCommit, type ReceiveOutcome, type SealedMessage } from "../mls/mlsAgent.js";
import { KeyedMutex } from "../mls/mutex.js";
import { AgentStore } from "../store/agentStore.js";
import { resolveDataDir } from "../store/dataDir.js";
import { StoreError } from "../store/errors.js";
import type { ChannelDelivery, InboxDelivery } from "../transport/deliveries.js";
import { NOT_TAKEN_CODES, TransportError } from "../transport/errors.js";
import { RelayClient } from "../transport/relayClient.js";
import { RELAY_KEY_PIN_FILE, RelayKeyPins } from "../transport/relayKeyPin.js";
import { relayBases, sameRelay } from "../transport/relayEndpoints.js";
import { DEFAULT_COVER, type CoverConfig } from "../wire/cover.js";
import { decodeJoinRequest, decodeInvite, encodeInvite, encodeJoinRequest, joinMac, macMatches } from "./invites.js";
import { LOCAL_RELAY_URL, LocalRelayHost } from "./localRelay.js";
import { decodeControl, decodeText, encodeControl, encodeText, isUserText } from "./messageCodec.js";
import type { StoredInvite } from "../store/agentStore.js";
import { toAgentError } from "./errors.js";
import { ForkWatch } from "./forkWatch.js";
import { StreamBacklog, type BacklogLimits } from "./streamBacklog.js";
import { StreamGuard } from "./streamGuard.js";
import { readMlsRouting } from "../wire/mlsHeader.js";
import {
  AgentError,
  type ChannelService,
  type ChannelState,
  type ChannelSummary,
  type ChannelWarning,
  type JoinResult,
  type MemberView,
  type ReceiveOptions,
  type ReceivedMessage,
} from "./types.js";

export interface AgentConfig {
  /** The agent's name (its identity and relay id). */
  readonly name: string;
  /** Default: SKYTALE_DATA_DIR or ~/.skytale/<name>. */
  readonly dataDir?: string;
  readonly passphrase?: string;
  /** The relay; unset means the shared local relay on 127.0.0.1:8787, started on demand. */
  readonly relayUrl?: string;
  /** The relay's static key; unset means the key recorded on first use (or from an invite). */
  readonly relayKey?: Uint8Array;
  readonly token?: string;
  readonly cover?: CoverConfig;
  /**
   * Self-update after this many sent messages or this long, whichever comes first. The time since
   * the last rotation is kept in the data dir; the message count starts again on a restart.
   */
  readonly rotation?: { readonly messages: number; readonly ms: number };
  /** For tests: the wall clock (ms) that key rotation reads. */
  readonly clock?: () => number;
  /**
   * Whether a member may add this agent to a channel without it asking (a directory add; default
   * true). Joins this agent asked for with an invite are always accepted.
   */
  readonly acceptDirectoryAdds?: boolean;
  /** How long a send waits for the relay before answering relay_unreachable (it stays queued); 20 s. */
  readonly sendTimeoutMs?: number;
  /**
   * Whether sends that overlap may travel packed in one MLS message (default true; see
   * mls/packedPayloads.ts). false gives every send its own message, as benchmarks compare.
   */
  readonly packSends?: boolean;
  /** For tests: where the local relay lives. */
  readonly localRelay?: LocalRelayHost;
  readonly log?: (line: string) => void;
  /** For tests: how much of the relay stream may wait to be applied (default DEFAULT_BACKLOG). */
  readonly streamBacklog?: BacklogLimits;
  /** For tests: how many requests the relay client lets wait at once (its default 1,024). */
  readonly maxPendingRequests?: number;
  /** For tests: how many queued messages' texts are kept to encrypt again (default MAX_ORPHANED). */
  readonly maxOrphaned?: number;
  /** Test-only: see MlsAgentOptions.observeSender. */
  readonly observeSender?: MlsAgentOptions["observeSender"];
}

const DEFAULT_ROTATION = { messages: 100, ms: 60 * 60 * 1000 };
const COMMIT_ATTEMPTS = 6;
/** A tool call that commits gives up after this long (hosts cut calls at about 60 s). */
const COMMIT_DEADLINE_MS = 40_000;
const DEFAULT_SEND_TIMEOUT_MS = 20_000;
/** Queued messages whose texts are kept to encrypt again; past it, a refusal is only reported. */
const MAX_ORPHANED = 1024;
const PUBLISHED_KEY_PACKAGES = 3;
const INBOX_CURSOR = "relay_inbox_cursor";
/** Setting holding the key package (hex ref) of a provisional join of a channel; empty once settled. */
const PROVISIONAL = "provisional_join:";
/**
 * Setting holding a Welcome that came for a group (hex id) this agent still held, as
 * `commitSeq:base64`; empty once used or dropped. The inbox cursor has moved past it, so it must
 * outlive a restart until the removal it waits for (or split evidence) is applied.
 */
const HELD_WELCOME = "held_welcome:";

/** A Welcome that could not be used while this agent held its group already (see HELD_WELCOME). */
interface HeldWelcome {
  readonly welcome: Uint8Array;
  readonly commitSeq: number;
}
/** Backoff while the data dir cannot be written (disk full, read-only): first and longest pause. */
const STORE_RETRY_FIRST_MS = 250;
const STORE_RETRY_MAX_MS = 5_000;
/** The backlog's key for the inbox stream; channels are keyed by their group id in hex. */
const INBOX_STREAM = "inbox";
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const stateOf = (channel: string, info: { epoch: bigint; members: { name: string }[] }): ChannelState => ({
  channel,
  epoch: info.epoch,
  members: info.members.map((m) => m.name),
});

/**
 * The channel manager: one per agent identity. It owns the store, the MLS engine and the relay
 * link; a background loop applies the relay's stream in order (decrypting into the inbox,
 * applying commits, admitting invited joiners, committing members' leave requests), commits are
 * retried on a nack after the winner is processed, and keys rotate on their own.
 */
export class Agent implements ChannelService {
  private readonly byGroup = new Map<string, string>();
  private readonly processed = new Map<string, number>();
  /** The highest seq each channel is known to hold (from our own acks and subscriptions). */
  private readonly heads = new Map<string, number>();
  /** Seqs of the last frames per channel that came for an epoch whose keys are gone (bounded). */
  private readonly progress = new Set<() => void>();
  private readonly listeners = new Set<(channel: string) => void>();
  private readonly intents = new KeyedMutex();
  private readonly sentSinceRotation = new Map<string, { count: number; since: number }>();
  private readonly rotating = new Set<string>();
  /** The relay's answer for each sealed message handed to it, shared by the sends packed into it. */
  private readonly sealedSends = new WeakMap<SealedMessage, Promise<bigint>>();
  /** Texts of queued messages whose callers stopped waiting, by carrier (see orphan()). */
  private readonly orphans = new Map<string, { channel: string; texts: string[] }>();
  /** Carriers of such messages seen archived in the stream (see carrierArchived()). */
  private readonly archivedCarriers = new Set<string>();
  /** Sealed messages some caller stopped waiting for: their texts may have been let go since. */
  private readonly abandoned = new WeakSet<SealedMessage>();
  /** Channels this agent asked to leave; the request is repeated until a member commits it. */
  private readonly leaving = new Set<string>();
  /** How often each group (hex id) was adopted: frames queued for an earlier membership are dropped. */
  private readonly incarnations = new Map<string, number>();
  /** The incarnation of its group each delivery arrived in. */
  private readonly deliveredIn = new WeakMap<ChannelDelivery, number>();
  /** Group ids (hex) of channels this agent asked to join with an invite. */
  private readonly expectedWelcomes = new Set<string>();
  private stream: Promise<void> = Promise.resolve();
  /** What of the relay's stream waits in `stream`, bounded; past it, frames are fetched again later. */
  private readonly backlog: StreamBacklog;
  /** Gaps and unverifiable frames in a channel's stream are fetched again before being skipped. */
  private readonly streamGuard = new StreamGuard((channel, fromSeq) => this.refetch(channel, fromSeq));
  private readonly forks = new ForkWatch((line) => this.log(line));
  /** Epoch a channel was joined at: frames from before it are history, unreadable by design. */
  private readonly joinedAtEpoch = new Map<string, bigint>();
  /** Application frames of one channel queued on the stream and not started yet; later ones join it. */
  private openBatch: ChannelDelivery[] | undefined;
  /** Timers of waits in progress, cleared on close so nothing keeps the process alive. */
  private readonly timers = new Set<NodeJS.Timeout>();
  private closed = false;

  private constructor(
    private readonly config: AgentConfig,
    private readonly store: AgentStore,
    private readonly mls: MlsAgent,
    private readonly relay: RelayClient,
    private readonly relayUrl: string,
    private readonly localRelay: LocalRelayHost | undefined,
    private readonly log: (line: string) => void,
  ) {
    this.backlog = new StreamBacklog(config.streamBacklog);
  }

  /** Opens the agent's store, connects to its relay (starting the local one if needed) and resumes every channel. */
  static async open(config: AgentConfig): Promise<Agent> {
    const log = config.log ?? ((line: string) => process.stderr.write(`skytale: ${line}\n`));
    const dataDir = config.dataDir ?? resolveDataDir(config.name);
    const store = AgentStore.open(dataDir, { passphrase: config.passphrase });
    try {
      const mls = await MlsAgent.open({ name: config.name, port: store, keepInInbox: isUserText, observeSender: config.observeSender });
      let localRelay: LocalRelayHost | undefined;
      if (config.relayUrl === undefined) {
        localRelay = config.localRelay ?? new LocalRelayHost();
        await localRelay.ensure();
      }
      const relayUrl = config.relayUrl ?? localRelay?.url ?? LOCAL_RELAY_URL;
      // The relay client asks the agent for cursors; the agent needs the client: tie the knot.
      const self: { agent?: Agent } = {};
      const relay = new RelayClient({
        url: relayUrl,
        agent: config.name,
        token: config.token ?? "",
        ...(config.relayKey ? { relayKey: config.relayKey } : { pinFile: join(dataDir, RELAY_KEY_PIN_FILE) }),
        outbox: store.outbox(),
        cursor: (groupId) => BigInt((self.agent?.cursorOf(groupId) ?? -1) + 1),
        inboxCursor: () => BigInt(store.setting(INBOX_CURSOR) ?? "0") + 1n,
        cover: config.cover ?? DEFAULT_COVER.poisson,
        ...(config.maxPendingRequests === undefined ? {} : { maxPending: config.maxPendingRequests }),
      });
      const agent = new Agent(config, store, mls, relay, relayUrl, localRelay, log);
      self.agent = agent;
      agent.start();
      return agent;
    } catch (error) {
      store.close();
      await config.localRelay?.close().catch(() => undefined);
      throw error;
    }
  }

  get identity(): { name: string; fingerprint: string } {
    return { name: this.config.name, fingerprint: this.mls.fingerprint };
  }

  private get sendTimeoutMs(): number {
    return this.config.sendTimeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  }

  relayStatus(): { url: string; connected: boolean } {
    return { url: this.relayUrl, connected: this.relay.state === "connected" };
  }

  onMessage(listener: (channel: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private start(): void {
    for (const g of this.store.listGroups()) {
      this.byGroup.set(hex(g.groupId), g.channel);
      this.processed.set(g.channel, g.cursor);
      const provisional = this.store.setting(PROVISIONAL + g.channel);
      if (provisional) this.forks.joinedProvisionally(g.channel, new Uint8Array(Buffer.from(provisional, "hex")));
      this.follow(g.groupId);
      void this.resendPendingCommit(g.channel).catch((e: unknown) => this.quiet(e));
    }
    // A held Welcome whose group is gone: the removal was applied, the join it waited for was not.
    for (const [key] of this.store.settingsWithPrefix(HELD_WELCOME)) {
      const groupHex = key.slice(HELD_WELCOME.length);
      if (!this.byGroup.has(groupHex)) this.rejoinHeld(groupHex, undefined);
    }
    this.relay.on("channel", (d) => {
      if (this.orphans.size > 0 && d.envelope.type === "Msg") this.carrierArchived(d.envelope.body);
      this.deliveredIn.set(d, this.incarnations.get(hex(d.channel)) ?? 0);
      this.onChannelDelivery(d);
    });
    this.relay.on("inbox", (d) => {
      if (!this.queues(INBOX_STREAM, d)) return;
      this.openBatch = undefined;
      this.enqueueFrames(INBOX_STREAM, [d], () => this.untilStored(() => this.onInboxItem(d)));
    });
    this.relay.on("subscribed", ({ channel: groupId, lastSeq }) => {
      this.openBatch = undefined;
      const channel = groupId && this.byGroup.get(hex(groupId));
      if (channel === undefined) return;
      // Every link's subscription, not only the first: a send waits for what the relay holds now.
      this.noteHead(channel, Number(lastSeq));
      this.enqueue(async () => this.streamGuard.subscribed(channel));
    });
    this.relay.on("error", (e) => this.log(`relay: ${e.code}: ${e.message}`));
    this.relay.on("answeredLate", ({ request, error }) => {
      if (error !== undefined) this.log(`relay: ${error.code}: ${error.message}`);
      if (request.type !== "Msg") return;
      if (error === undefined) this.carrierTaken(request.body);
      else this.carrierRefused(request.body, error, true);
    });
    this.relay.on("state", ({ state }) => {
      // The local relay's host may have exited: whoever notices first takes over its data dir.
      if (state === "waiting" && this.localRelay !== undefined && !this.closed) void this.localRelay.ensure().catch(() => undefined);
    });
    void this.relay.subscribeInbox(BigInt(this.store.setting(INBOX_CURSOR) ?? "0") + 1n).catch(() => undefined);
    void this.relay.connect().then(
      () => this.publishKeyPackages(PUBLISHED_KEY_PACKAGES),
      (e: unknown) => {
        const fatal = e instanceof TransportError && ["auth_failed", "relay_key_mismatch", "bad_config"].includes(e.code);
        this.log(fatal ? `cannot use the relay: ${(e as Error).message}` : `relay not reachable yet (${(e as Error).message}); will keep trying`);
      },
    );
  }

  /**
   * A commit built before a crash may never have reached the outbox; until the relay answers it,
   * this agent cannot commit on that channel. Sending it again is safe (the relay drops a
   * duplicate); the stream then confirms it, or the winner's commit discards it.
   */
  private async resendPendingCommit(channel: string): Promise<void> {
    const pending = await this.mls.pendingCommit(channel);
    if (pending === undefined) return;
    const welcome = pending.welcome !== undefined && pending.added.length > 0 ? { recipients: pending.added, welcome: pending.welcome } : undefined;
    await this.relay.sendCommit(pending.commit, welcome, pending.proof);
  }

  private follow(groupId: Uint8Array): void {
    void this.relay.subscribe(groupId, BigInt((this.cursorOf(groupId) ?? -1) + 1)).then(
      (last) => this.noteHead(this.byGroup.get(hex(groupId)), Number(last)),
      () => undefined,
    );
  }

  private noteHead(channel: string | undefined, seq: number): void {
    if (channel !== undefined && seq > (this.heads.get(channel) ?? -1)) this.heads.set(channel, seq);
  }

  /**
   * Waits until the stream has applied everything the channel is known to hold. A message built
   * on an epoch the relay has long left (an agent just restarted, or lagging behind the stream)
   * is ordered after newer commits, and members keep only the last two epochs' keys.
   */
  private caughtUp(channel: string): Promise<void> {
    const head = this.heads.get(channel) ?? -1;
    return this.until(() => (this.processed.get(channel) ?? head) >= head, this.sendTimeoutMs, "the channel is still catching up with the relay; try again", "relay_unreachable");
  }

  private refetch(channel: string, fromSeq: number): void {
    this.log(`fetching ${channel} again from seq ${fromSeq}: a frame was missing or did not verify`);
    for (const [g, c] of this.byGroup) {
      if (c === channel) this.relay.refetch(new Uint8Array(Buffer.from(g, "hex")), BigInt(fromSeq));
    }
  }

  private cursorOf(groupId: Uint8Array): number | undefined {
    const channel = this.byGroup.get(hex(groupId));
    return channel === undefined ? undefined : this.processed.get(channel);
  }

  /** The relay's stream is applied strictly in order, one frame at a time. */
  private enqueue(step: () => Promise<void>): void {
    this.stream = this.stream.then(step).catch((e: unknown) => this.log(`while applying the relay stream: ${(e as Error).message}`));
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
      const what = stream === INBOX_STREAM ? "the inbox" : `channel ${this.byGroup.get(stream) ?? "(unknown)"}`;
      this.log(`the relay is ${frames} frames (${Math.ceil(bytes / 1024)} KiB) ahead of this agent; ${what} is fetched again once they are applied`);
    }
    return false;
  }

  /** A stream whose frames were dropped: replayed from its cursor, the frames since included. */
  private fetchAgain(stream: string): void {
    if (stream === INBOX_STREAM) return this.relay.refetchInbox(BigInt(this.store.setting(INBOX_CURSOR) ?? "0") + 1n);
    const channel = this.byGroup.get(stream);
    if (channel === undefined) return;
    const fromSeq = Math.max((this.processed.get(channel) ?? -1) + 1, 1);
    this.streamGuard.replaying(channel, fromSeq);
    this.relay.refetch(new Uint8Array(Buffer.from(stream, "hex")), BigInt(fromSeq));
  }

  /**
   * A frame that cannot be stored (disk full, read-only data dir) must not be skipped, or it would
   * be lost: the stream stalls and the step is retried until it is stored or the agent closes.
   * A failed step changes nothing (each MLS step is one transaction), so repeating it is exact.
   */
  private async untilStored<T>(step: () => Promise<T>): Promise<T> {
    for (let delay = STORE_RETRY_FIRST_MS; ; delay = Math.min(delay * 2, STORE_RETRY_MAX_MS)) {
      try {
        return await step();
      } catch (error) {
        if (!(error instanceof StoreError) || this.closed) throw error;
        this.log(`${error.message}; the relay stream waits and retries in ${delay / 1000} s`);
        await this.pause(delay);
      }
    }
  }

  /** Waits `ms`, or less if the agent closes meanwhile. */
  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.progress.delete(wake);
        resolve();
      };
      const wake = () => this.closed && done();
      const timer = setTimeout(done, ms);
      this.timers.add(timer);
      this.progress.add(wake);
    });
  }

  /**
   * Application messages that arrive while the stream is busy are applied together (one store
   * transaction for the lot), still strictly in relay order: a frame joins the batch only if
   * nothing else was queued after it.
   */
  private onChannelDelivery(d: ChannelDelivery): void {
    const stream = hex(d.channel);
    if (!this.queues(stream, d)) return;
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

  /**
   * A batch of application frames: the run that is next in the stream and in order goes through
   * receiveAll in one transaction. Returns what is left for the frame-by-frame path: everything
   * when the batch does not continue the stream (the stream guard decides), else the frames from
   * the first one the MLS layer refused (re-fetch and skip decisions are made there).
   */
  private async onMessageBatch(batch: ChannelDelivery[]): Promise<ChannelDelivery[]> {
    if (batch.some((d) => this.stale(d))) return batch;
    const channel = this.byGroup.get(hex(batch[0]!.channel));
    if (channel === undefined) return [];
    const first = Number(batch[0]!.seq);
    const dense = batch.every((d, i) => Number(d.seq) === first + i);
    const next = Math.max((this.processed.get(channel) ?? -1) + 1, 1);
    if (!dense || this.streamGuard.admit(channel, first, next).kind !== "process") return batch;
    const frames = batch.map((d) => ({ bytes: d.envelope.type === "Msg" ? d.envelope.body : new Uint8Array(0), seq: Number(d.seq) }));
    let results: ReceiveOutcome[][];
    try {
      results = await this.watchingRemovals(channel, () => this.mls.receiveAll(channel, frames));
    } catch (error) {
      if (error instanceof MlsError && error.code === "not_found") return [];
      throw error;
    }
    results.forEach((outcomes, i) => {
      this.handleOutcomes(channel, outcomes);
      this.streamGuard.passed(channel, frames[i]!.seq);
    });
    if (results.length > 0) this.markProcessed(channel, frames[results.length - 1]!.seq);
    return this.mls.channels().includes(channel) ? batch.slice(results.length) : [];
  }

  private markProcessed(channel: string, seq: number): void {
    const last = this.processed.get(channel);
    if (last !== undefined && seq > last) this.processed.set(channel, seq);
    this.progress.forEach((wake) => wake());
  }

  /** A frame delivered for a membership of its channel that has ended since (removed, then added back). */
  private stale(d: ChannelDelivery): boolean {
    return this.deliveredIn.get(d) !== (this.incarnations.get(hex(d.channel)) ?? 0);
  }

  private async onChannelFrame(d: ChannelDelivery): Promise<void> {
    if (this.stale(d)) return;
    const channel = this.byGroup.get(hex(d.channel));
    if (channel === undefined) return;
    const seq = Number(d.seq);
    const admission = this.streamGuard.admit(channel, seq, Math.max((this.processed.get(channel) ?? -1) + 1, 1));
    if (admission.kind === "duplicate" || admission.kind === "hold") return;
    if (admission.kind === "gap") {
      const missing = admission.from === admission.to ? `frame ${admission.from}` : `frames ${admission.from}-${admission.to}`;
      this.forks.warn(channel, "frames_missing", `the relay did not deliver ${missing} of this channel even when asked again; anything in them is lost to this agent`, admission.from);
    }
    const e = d.envelope;
    if (e.type === "Msg" || e.type === "GroupProposal" || e.type === "GroupCommit") {
      const body = e.type === "GroupCommit" ? e.commit : e.body;
      try {
        const outcomes = await this.watchingRemovals(channel, () => this.mls.receive(channel, body, seq));
        this.handleOutcomes(channel, outcomes);
      } catch (error) {
        if (!(error instanceof MlsError)) throw error;
        if (error.code === "not_found") return;
        if (!(await this.refused(channel, seq, body, error.code))) return;
        if (!this.mls.channels().includes(channel)) return;
      }
    } else {
      if (e.type === "JoinRequest") this.considerJoinRequest(channel, e.payload, e.from);
      await this.mls.skip(channel, seq).catch(() => undefined);
    }
    this.streamGuard.passed(channel, seq);
    this.markProcessed(channel, seq);
  }

  /**
   * A frame the MLS layer refused: fetched again once (it may have been altered on the way);
   * refused again, it is skipped and reported. Returns false while it is being fetched again.
   */
  private async refused(channel: string, seq: number, body: Uint8Array, code: MlsError["code"]): Promise<boolean> {
    const frameEpoch = readMlsRouting(body).epoch;
    const history = code === "epoch_mismatch" && frameEpoch < (this.joinedAtEpoch.get(channel) ?? 0n);
    const verdict = this.streamGuard.failed(channel, seq, body, history);
    if (verdict.kind === "refetch") return false;
    await this.mls.skip(channel, seq);
    if (!verdict.refetched) {
      this.log(`dropped frame ${seq} of ${channel}: ${code}`);
      return true;
    }
    const epoch = await this.mls.channelInfo(channel).then((i) => i.epoch, () => undefined);
    const atOurEpoch = code === "decryption_failure" && epoch !== undefined && frameEpoch === epoch;
    if (verdict.confirmed && atOurEpoch) {
      await this.onForkEvidence(channel, seq);
    } else {
      this.forks.warn(channel, "frame_rejected", `frame ${seq} of this channel did not verify (${code}), even when fetched again; it was skipped`, seq);
    }
    return true;
  }

  /**
   * The relay serves, at this agent's own epoch, a frame it cannot read: the members' views may
   * have split (a commit shown to some and not others), or a non-member posted it. A join no
   * other member has confirmed is undone (its Welcome was for a commit that did not win), and a
   * Welcome held back meanwhile takes its place.
   */
  private async onForkEvidence(channel: string, seq: number): Promise<void> {
    this.forks.markForked(channel);
    const groupHex = this.groupOf(channel);
    const stashed = groupHex === undefined ? undefined : this.heldWelcome(groupHex);
    if (groupHex !== undefined && stashed !== undefined) this.dropHeldWelcome(groupHex);
    if (!this.forks.isProvisional(channel) && stashed === undefined) {
      return this.forks.warn(
        channel,
        "fork_suspected",
        `frame ${seq} is at this agent's epoch but cannot be read, even when fetched again: the relay may be showing members different commits, or carries a non-member's frame; if it goes on, have a member remove this agent and add it again`,
        seq,
      );
    }
    await this.mls.abandon(channel);
    this.forgetChannel(channel);
    this.forks.warn(channel, "half_joined", `the Welcome this agent joined with was for a commit the other members do not have; the channel was left${stashed ? " and joined again with a newer Welcome" : " until a member adds this agent again"}`, seq);
    if (stashed !== undefined) await this.joinFromWelcome(stashed.welcome, stashed.commitSeq);
  }

  private handleOutcomes(channel: string, outcomes: ReceiveOutcome[]): void {
    for (const o of outcomes) {
      if (o.kind === "application" || o.kind === "proposal" || (o.kind === "commit" && !o.own)) this.confirmJoin(channel);
      if (o.kind === "application") {
        for (const payload of o.payloads) {
          const notice = decodeControl(payload);
          if (notice !== undefined) this.rememberInvite(channel, notice);
          else this.listeners.forEach((l) => l(channel));
        }
      } else if (o.kind === "commit" && o.removed) {
        const groupHex = this.groupOf(channel);
        this.forgetChannel(channel);
        if (groupHex !== undefined) this.rejoinHeld(groupHex, o.seq);
      } else if (o.kind === "commit" && this.leaving.has(channel)) {
        // A commit that did not remove us dropped our leave proposal with its epoch: ask again.
        void this.requestLeave(channel).catch((e: unknown) => this.quiet(e));
      } else if (o.kind === "proposal") {
        // A member asked to leave: commit it, so the channel is not blocked (one committer wins).
        void this.commitIntent(channel, () => this.mls.commitPendingProposals(channel), []).catch((e: unknown) => this.quiet(e));
      }
    }
    this.progress.forEach((wake) => wake());
  }

  /**
   * Runs a step that may apply a commit. Every member applies the same commits, so all of them see
   * a removal at the same point: each then forgets the channel's invites, which the removed
   * member also knows.
   */
  private async watchingRemovals<T>(channel: string, step: () => Promise<T>): Promise<T> {
    const names = async () => new Set((await this.mls.channelInfo(channel)).members.map((m) => m.name));
    const before = await names();
    const result = await step();
    if (!this.mls.channels().includes(channel)) return result;
    const after = await names();
    if ([...before].some((name) => !after.has(name)) && this.store.revokeInvites(channel) > 0) {
      this.log(`a member left ${channel}: its open invites are revoked`);
    }
    return result;
  }

  /** Another member's frame was readable at our epoch: a provisional join was real. */
  private confirmJoin(channel: string): void {
    if (!this.forks.isProvisional(channel)) return;
    const keyPackage = this.forks.confirm(channel);
    if (keyPackage === undefined) return;
    const groupHex = this.groupOf(channel);
    if (groupHex !== undefined) this.dropHeldWelcome(groupHex);
    this.mls.consumeKeyPackage(keyPackage);
    this.store.setSetting(PROVISIONAL + channel, "");
  }

  private groupOf(channel: string): string | undefined {
    return [...this.byGroup].find(([, c]) => c === channel)?.[0];
  }

  /** Keeps a Welcome for a group still held (see HELD_WELCOME); a newer one replaces it. */
  private holdWelcome(groupHex: string, held: HeldWelcome): void {
    this.store.setSetting(HELD_WELCOME + groupHex, `${held.commitSeq}:${Buffer.from(held.welcome).toString("base64")}`);
  }

  private heldWelcome(groupHex: string): HeldWelcome | undefined {
    const value = this.store.setting(HELD_WELCOME + groupHex);
    if (!value) return undefined;
    const [seq, welcome] = value.split(":");
    return { commitSeq: Number(seq), welcome: new Uint8Array(Buffer.from(welcome ?? "", "base64")) };
  }

  private dropHeldWelcome(groupHex: string): void {
    this.store.setSetting(HELD_WELCOME + groupHex, "");
  }

  /**
   * This agent was removed by the commit at `removedAt`: a Welcome that came while it still held
   * the group, for an add ordered after that commit (the inbox and a channel's stream are
   * separate orders, so after a reconnect the Welcome can come first), joins it again, next in
   * the stream.
   */
  private rejoinHeld(groupHex: string, removedAt: number | undefined): void {
    const held = this.heldWelcome(groupHex);
    if (held === undefined) return;
    if (removedAt !== undefined && held.commitSeq <= removedAt) return this.dropHeldWelcome(groupHex);
    // Dropped only once joined: a crash before that finds it again on start.
    this.enqueue(() =>
      this.untilStored(async () => {
        await this.joinFromWelcome(held.welcome, held.commitSeq, groupHex);
        this.dropHeldWelcome(groupHex);
      }),
    );
  }

  private forgetChannel(channel: string): void {
    this.leaving.delete(channel);
    this.sentSinceRotation.delete(channel);
    this.streamGuard.forget(channel);
    if (this.forks.isProvisional(channel)) this.store.setSetting(PROVISIONAL + channel, "");
    this.forks.forget(channel);
    this.joinedAtEpoch.delete(channel);
    for (const [g, c] of this.byGroup) {
      if (c !== channel) continue;
      this.relay.unsubscribe(new Uint8Array(Buffer.from(g, "hex")));
      this.byGroup.delete(g);
    }
    this.processed.delete(channel);
    this.heads.delete(channel);
  }

  private async onInboxItem(d: InboxDelivery): Promise<void> {
    const e = d.envelope;
    if (e.type === "GroupWelcome" && !this.mayJoin(e.channel)) {
      this.log("ignored a Welcome this agent did not ask for (directory adds are off: SKYTALE_ACCEPT_DIRECTORY_ADDS=0)");
    } else if (e.type === "GroupWelcome") {
      await this.joinFromWelcome(e.welcome, Number(e.commitSeq), hex(e.channel));
    }
    this.store.setSetting(INBOX_CURSOR, d.seq.toString());
    await this.relay.ackInbox(d.seq).catch(() => undefined);
    this.progress.forEach((wake) => wake());
  }

  /**
   * Joins with a Welcome from the inbox. The key package stays until another member's frame
   * confirms the join: the relay could have released a Welcome whose commit lost. A Welcome for a
   * group held already waits, unless that group is known to have split from the others'.
   */
  private async joinFromWelcome(welcome: Uint8Array, commitSeq: number, groupHex?: string): Promise<void> {
    const held = groupHex === undefined ? undefined : this.byGroup.get(groupHex);
    if (held !== undefined && this.forks.isForked(held)) {
      await this.mls.abandon(held);
      this.forgetChannel(held);
      this.log(`replacing the split group of ${held} with a new Welcome`);
    }
    try {
      const info = await this.mls.join(welcome, commitSeq, { keepKeyPackage: true });
      this.forks.joinedProvisionally(info.channel, info.keyPackageRef);
      this.store.setSetting(PROVISIONAL + info.channel, hex(info.keyPackageRef));
      this.joinedAtEpoch.set(info.channel, info.epoch);
      this.adopt(info.channel, info.groupId, commitSeq);
      void this.publishKeyPackages(1);
    } catch (error) {
      if (!(error instanceof MlsError)) throw error;
      if (error.code === "already_exists" && groupHex !== undefined) this.holdWelcome(groupHex, { welcome, commitSeq });
      // MlsError messages carry no key or plaintext (errorMapping.ts); the reason is what an operator needs.
      this.log(`ignored a Welcome: ${error.code}: ${error.message}`);
    }
  }

  /** Joins this agent asked for, or directory adds by agents it accepts adds from. */
  private mayJoin(groupId: Uint8Array): boolean {
    return this.expectedWelcomes.delete(hex(groupId)) || (this.config.acceptDirectoryAdds ?? true);
  }

  private adopt(channel: string, groupId: Uint8Array, cursor: number): void {
    this.incarnations.set(hex(groupId), (this.incarnations.get(hex(groupId)) ?? 0) + 1);
    this.byGroup.set(hex(groupId), channel);
    this.processed.set(channel, cursor);
    this.follow(groupId);
  }

  private async publishKeyPackages(count: number): Promise<void> {
    for (let i = 0; i < count; i++) {
      await this.relay.publishKeyPackage(await this.mls.createKeyPackage()).catch((e: unknown) => this.quiet(e));
    }
  }

  /** Failures of background work are logged (by code), never thrown at nobody. */
  private quiet(error: unknown): void {
    const code = (error as { code?: string }).code ?? "internal";
    this.log(`background step failed: ${code}: ${(error as Error).message}`);
  }

  /** Resolves when `done()` holds, re-checked after every processed frame, or rejects on timeout. */
  private until(done: () => boolean, timeoutMs: number, what: string, code = "join_timeout"): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done() && !this.closed) return;
        this.progress.delete(check);
        this.timers.delete(timer);
        clearTimeout(timer);
        if (this.closed && !done()) reject(new AgentError("not_found", "the agent is closing"));
        else resolve();
      };
      const timer = setTimeout(() => {
        this.progress.delete(check);
        this.timers.delete(timer);
        reject(new AgentError(code, what));
      }, timeoutMs);
      this.timers.add(timer);
      this.progress.add(check);
    });
  }

  /**
   * Sends a commit and follows the relay's verdict: on ack it becomes our state; on nack we process
   * the winner and, unless `isDone` says the winner already did our job, build it again.
   */
  private commitIntent(
    channel: string,
    build: () => Promise<OutgoingCommit>,
    recipients: string[],
    isDone?: () => Promise<boolean>,
  ): Promise<ChannelState & { committed: boolean }> {
    const deadline = Date.now() + COMMIT_DEADLINE_MS;
    const left = () => Math.max(1, deadline - Date.now());
    return this.intents.run(channel, async () => {
      for (let attempt = 0; attempt < COMMIT_ATTEMPTS && Date.now() < deadline && !this.closed; attempt++) {
        if (isDone !== undefined && (await isDone())) return { ...(await this.state(channel)), committed: false };
        const outgoing = await build();
        const welcome = outgoing.welcome !== undefined && recipients.length > 0 ? { recipients, welcome: outgoing.welcome } : undefined;
        const verdict = await withTimeout(this.relay.sendCommit(outgoing.commit, welcome, outgoing.proof), left(), "the commit is queued; it is applied when the relay answers").catch(
          async (error: unknown) => {
            if (relayCodeOf(error) !== "forbidden") throw error;
            await this.mls.discardCommit(channel).catch((e: unknown) => ignoreCode(e, "no_pending_commit"));
            throw new AgentError("fork_detected", `the relay refused a commit on '${channel}': this agent's view of the channel is not the relay's current epoch (${(error as Error).message})`, { cause: error });
          },
        );
        if (verdict.kind === "ack") {
          // The stream confirms it when it meets the commit, after the frames ordered before it;
          // confirming now would read those with the next epoch's keys (a member just removed
          // could no longer be read). Confirm here only if the stream does not get there in time.
          this.noteHead(channel, Number(verdict.seq));
          await this.until(() => (this.processed.get(channel) ?? -1) >= Number(verdict.seq), left(), "").catch(() => undefined);
          await this.watchingRemovals(channel, () => this.mls.confirmCommit(channel)).then(
            (o) => this.handleOutcomes(channel, o),
            (e: unknown) => ignoreCode(e, "no_pending_commit"),
          );
          return { ...(await this.state(channel)), committed: true };
        }
        await this.mls.discardCommit(channel).catch((e: unknown) => ignoreCode(e, "no_pending_commit"));
        await this.until(() => (this.processed.get(channel) ?? -1) >= Number(verdict.winningSeq), left(), "the relay did not deliver the commit that won", "relay_unreachable");
        if (this.streamGuard.refused(channel, Number(verdict.winningSeq))) {
          throw new AgentError(
            "fork_detected",
            `the commit that won this epoch of '${channel}' (seq ${verdict.winningSeq}) cannot be processed by this agent: a non-member's commit or a split of the channel; membership changes are blocked until a member re-creates or re-adds`,
          );
        }
      }
      throw new AgentError("epoch_mismatch", `the channel kept changing while committing on '${channel}'; try again`);
    });
  }

  private async state(channel: string): Promise<ChannelState> {
    return stateOf(channel, await this.mls.channelInfo(channel));
  }

  private async guard<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw toAgentError(error);
    }
  }

  createChannel(channel: string): Promise<ChannelState> {
    return this.guard(async () => {
      const info = await this.mls.createChannel(channel);
      this.adopt(channel, info.groupId, -1);
      return stateOf(channel, info);
    });
  }

  keyPackage(): Promise<Uint8Array> {
    return this.guard(() => this.mls.createKeyPackage());
  }

  addMember(channel: string, who: { keyPackage: Uint8Array } | { agent: string }): Promise<ChannelState & { welcome: Uint8Array }> {
    return this.guard(async () => {
      let keyPackage: Uint8Array;
      if ("agent" in who) {
        const fetched = await this.relay.fetchKeyPackage(who.agent);
        if (fetched === undefined) throw new AgentError("not_found", `'${who.agent}' has no key package in the relay's directory; ask it to start once, or use channel_invite`);
        keyPackage = fetched;
      } else keyPackage = who.keyPackage;
      const name = parseCredential(decodeKeyPackageMessage(keyPackage).leafNode.credential)?.name;
      if (name === undefined) throw new AgentError("bad_request", "that key package does not carry a skytale identity");
      let welcome: Uint8Array | undefined;
      const result = await this.commitIntent(
        channel,
        async () => {
          const outgoing = await this.mls.addMembers(channel, [keyPackage]);
          welcome = outgoing.welcome;
          return outgoing;
        },
        [name],
      );
      if (welcome === undefined) throw new AgentError("internal", "the add produced no Welcome");
      void this.shareInvites(channel).catch((e: unknown) => this.quiet(e));
      return { channel: result.channel, epoch: result.epoch, members: result.members, welcome };
    });
  }

  send(channel: string, message: string): Promise<{ channel: string; seq: number; epoch: bigint }> {
    return this.guard(async () => {
      if (this.leaving.has(channel)) throw new AgentError("not_member", `this agent asked to leave '${channel}'; it can no longer send there`);
      let seq: bigint | undefined;
      for (let attempt = 1; seq === undefined; attempt++) {
        await this.caughtUp(channel);
        const sealed = await this.encryptText(channel, message);
        // The relay refuses a message for an epoch no member keeps keys for (it waited in the
        // outbox while commits went on), so whatever it accepts is readable: encrypt it again.
        seq = await withTimeout(this.sendSealed(sealed), this.sendTimeoutMs, "the message is stored and queued; it goes out when the relay is reachable").catch(
          (error: unknown) => {
            if (attempt < COMMIT_ATTEMPTS && relayCodeOf(error) === "stale_epoch") return undefined;
            if (isQueued(error)) this.orphan(channel, sealed, message);
            throw error;
          },
        );
        if (seq === undefined) this.log(`a message to ${channel} was refused as too old for its members to read; encrypting it again`);
      }
      this.noteHead(channel, Number(seq));
      const epoch = this.mls.epochOf(channel);
      this.countForRotation(channel);
      return { channel, seq: Number(seq), epoch };
    });
  }

  private async encryptText(channel: string, message: string): Promise<SealedMessage> {
    try {
      return await this.sealText(channel, message);
    } catch (error) {
      if (!(error instanceof MlsError) || error.code !== "proposals_pending") throw error;
      await this.commitIntent(channel, () => this.mls.commitPendingProposals(channel), [], async () => !(await this.hasPendingProposals(channel)));
      return this.sealText(channel, message);
    }
  }

  private async sealText(channel: string, message: string): Promise<SealedMessage> {
    const payload = encodeText(message);
    if (this.config.packSends !== false) return this.mls.seal(channel, payload);
    return { bytes: await this.mls.encrypt(channel, payload), payloads: 1 };
  }

  /** Hands a sealed message to the relay once, however many sends it carries; all of them get its seq. */
  private sendSealed(sealed: SealedMessage): Promise<bigint> {
    let sent = this.sealedSends.get(sealed);
    if (sent === undefined) {
      sent = this.relay.sendMessage(sealed.bytes);
      this.sealedSends.set(sealed, sent);
      // Registered before any caller's handler, so it sees only the sends whose callers gave up.
      sent.then(
        () => this.carrierTaken(sealed.bytes),
        (error: unknown) => this.carrierRefused(sealed.bytes, error, this.abandoned.has(sealed)),
      );
    }
    return sent;
  }

  /**
   * A send answered "queued": its caller has stopped waiting, the outbox keeps the message. Should
   * the relay refuse it as too old later, the text is still here to encrypt again.
   */
  private orphan(channel: string, sealed: SealedMessage, message: string): void {
    this.abandoned.add(sealed);
    const key = messageDigest(sealed.bytes);
    const entry = this.orphans.get(key) ?? { channel, texts: [] };
    entry.texts.push(message);
    this.orphans.delete(key);
    this.orphans.set(key, entry);
    if (this.orphans.size > (this.config.maxOrphaned ?? MAX_ORPHANED)) this.orphans.delete(this.orphans.keys().next().value as string);
  }

  private carrierTaken(body: Uint8Array): void {
    if (this.orphans.size > 0) this.orphans.delete(messageDigest(body));
  }

  /**
   * A queued message of ours came back in the channel stream, so the relay archived it even if
   * its ack never arrived: its text is not sent again, and a refusal of a later copy of it (sent
   * again past the relay's duplicate window) is no news.
   */
  private carrierArchived(body: Uint8Array): void {
    const key = messageDigest(body);
    if (!this.orphans.delete(key)) return;
    this.archivedCarriers.add(key);
    if (this.archivedCarriers.size > MAX_ORPHANED) this.archivedCarriers.delete(this.archivedCarriers.values().next().value as string);
  }

  /**
   * The relay's final refusal of a message, or a failure of its link (the outbox tries again, so
   * that is no answer yet). Texts whose callers gave up are sent again when it was refused as too
   * old; what cannot be sent again (after a restart only the ciphertext is left) is reported on
   * the channel, so that nobody takes it for delivered. `givenUp`: some caller stopped waiting for
   * the answer (or nobody awaited it at all); otherwise the callers hear the refusal themselves.
   */
  private carrierRefused(body: Uint8Array, error: unknown, givenUp: boolean): void {
    const relayCode = relayCodeOf(error);
    if (relayCode === undefined) return;
    const key = messageDigest(body);
    if (this.archivedCarriers.delete(key)) return this.log(`a copy of a queued message the relay had archived was refused (${relayCode}); nothing to send again`);
    const orphaned = this.orphans.get(key);
    if (orphaned !== undefined && relayCode === "stale_epoch") return void this.resendUnlessArchived(key, orphaned);
    this.orphans.delete(key);
    const channel = this.byGroup.get(hex(readMlsRouting(body).groupId));
    if (channel === undefined || (orphaned === undefined && !givenUp)) return;
    this.notDelivered(channel, `was refused (${relayCode})`);
  }

  /**
   * A queued message refused as too old may still have been archived: its ack was lost, and it
   * came again after the relay's duplicate window. Only once the stream has caught up with what
   * the relay holds does its absence from the stream (carrierTaken) mean it was not.
   */
  private async resendUnlessArchived(key: string, orphaned: { channel: string; texts: string[] }): Promise<void> {
    await this.caughtUp(orphaned.channel).catch(() => undefined);
    if (this.orphans.get(key) !== orphaned) return void this.archivedCarriers.delete(key);
    this.orphans.delete(key);
    this.log(`a queued message to ${orphaned.channel} was refused as too old for its members to read; encrypting it again`);
    for (const text of orphaned.texts) this.sendAgain(orphaned.channel, text);
  }

  /** Encrypts a refused queued text again; its caller is long gone, so a failure is told on the channel. */
  private sendAgain(channel: string, text: string): void {
    void this.send(channel, text).catch((error: unknown) => {
      this.quiet(error);
      if (isQueued(error)) return;
      this.notDelivered(channel, `could not be encrypted again (${toAgentError(error).code})`);
    });
  }

  private notDelivered(channel: string, what: string): void {
    this.forks.warn(channel, "message_not_delivered", `a message (or more) this agent queued while the relay was unreachable ${what} and was not delivered; send it again`);
  }

  private async hasPendingProposals(channel: string): Promise<boolean> {
    return (await this.mls.channelInfo(channel)).pendingProposals > 0;
  }

  private now(): number {
    return this.config.clock?.() ?? Date.now();
  }

  /**
   * Records a rotation that took effect (or, the first time a channel counts, when counting began),
   * so that the hour also counts from it after a restart. The message is handled already: a disk
   * that refuses this small write only delays a rotation.
   */
  private rotated(channel: string, at: number): void {
    try {
      this.store.setRotatedAt(channel, at);
    } catch (error) {
      this.quiet(error);
    }
  }

  /** This process's counters for a channel; the first time, the time comes from the data dir. */
  private rotationEntry(channel: string, now: number): { count: number; since: number } {
    let entry = this.sentSinceRotation.get(channel);
    if (entry === undefined) {
      let recorded: number | undefined;
      try {
        recorded = this.store.rotatedAt(channel);
      } catch (error) {
        this.quiet(error);
      }
      if (recorded === undefined) this.rotated(channel, now);
      entry = { count: 0, since: recorded ?? now };
      this.sentSinceRotation.set(channel, entry);
    }
    return entry;
  }

  private countForRotation(channel: string): void {
    const rotation = this.config.rotation ?? DEFAULT_ROTATION;
    const now = this.now();
    const entry = this.rotationEntry(channel, now);
    entry.count++;
    if (entry.count >= rotation.messages || now - entry.since >= rotation.ms) this.rotate(channel, now);
  }

  /** A member that only listens also rotates on time, when it reads messages of the channel. */
  private rotateIfDue(channel: string): void {
    if (!this.mls.channels().includes(channel) || this.leaving.has(channel)) return;
    const now = this.now();
    if (now - this.rotationEntry(channel, now).since >= (this.config.rotation ?? DEFAULT_ROTATION).ms) this.rotate(channel, now);
  }

  /**
   * Starts a self-update in the background. The counters restart at once (so a burst of sends does
   * not start more, and a failing one is tried again a period later); the time is stored only once
   * the commit is in, so after a restart a rotation that did not happen is due at once.
   */
  private rotate(channel: string, now: number): void {
    this.sentSinceRotation.set(channel, { count: 0, since: now });
    if (this.rotating.has(channel) || this.leaving.has(channel)) return;
    this.rotating.add(channel);
    void this.commitIntent(channel, () => this.mls.selfUpdate(channel), [])
      .then(({ committed }) => committed && this.rotated(channel, now))
      .catch((e: unknown) => this.quiet(e))
      .finally(() => this.rotating.delete(channel));
  }

  receive(options: ReceiveOptions): Promise<{ messages: ReceivedMessage[]; timedOut: boolean; warnings?: ChannelWarning[] }> {
    return this.guard(async () => {
      const { channel, waitMs = 0, maxMessages = 100, signal } = options;
      const known = channel === undefined || this.mls.channels().includes(channel) || this.store.countUndelivered(channel) > 0 || this.forks.hasWarnings(channel);
      if (!known) {
        throw new AgentError("not_found", `no channel '${channel}' on this agent; create it or join it first`);
      }
      const started = Date.now();
      for (;;) {
        // A cancelled call gets no answer at all: consuming messages for it would lose them.
        if (signal?.aborted) return { messages: [], timedOut: true };
        const rows = this.store.undelivered(channel, maxMessages);
        const waited = Date.now() - started;
        if (rows.length > 0 || this.forks.hasWarnings(channel) || waited >= waitMs || this.closed) {
          this.store.markDelivered(rows.map((r) => r.id));
          const messages = rows.map((r) => ({
            channel: r.channel,
            sender: r.sender,
            senderFingerprint: r.senderFingerprint,
            message: decodeText(r.plaintext) ?? "",
            seq: r.seq,
            sentAt: new Date(r.receivedAt).toISOString(),
          }));
          for (const read of new Set(messages.map((m) => m.channel))) this.rotateIfDue(read);
          const warnings = this.forks.takeWarnings(channel);
          return warnings.length > 0 ? { messages, timedOut: false, warnings } : { messages, timedOut: messages.length === 0 };
        }
        options.onWait?.(waited);
        await this.nextEvent(Math.min(1000, waitMs - waited), signal);
      }
    });
  }

  /** Waits for any processed frame, `ms`, or the abort signal, whichever is first. */
  private nextEvent(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.progress.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.progress.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  channels(): Promise<ChannelSummary[]> {
    return this.guard(async () =>
      Promise.all(
        this.mls.channels().map(async (channel) => ({ ...(await this.state(channel)), unread: this.store.countUndelivered(channel) })),
      ),
    );
  }

  members(channel: string): Promise<{ channel: string; epoch: bigint; members: MemberView[] }> {
    return this.guard(async () => {
      const info = await this.mls.channelInfo(channel);
      return { channel, epoch: info.epoch, members: info.members.map((m) => ({ identity: m.name, fingerprint: m.fingerprint })) };
    });
  }

  removeMember(channel: string, member: string): Promise<ChannelState> {
    return this.guard(async () =>
      this.state((await this.commitIntent(channel, () => this.mls.removeMembers(channel, [member]), [], async () => !(await this.state(channel)).members.includes(member))).channel),
    );
  }

  rotateKeys(channel: string): Promise<ChannelState> {
    return this.guard(async () => {
      const started = this.now();
      this.sentSinceRotation.set(channel, { count: 0, since: started });
      const result = await this.commitIntent(channel, () => this.mls.selfUpdate(channel), []);
      if (result.committed) this.rotated(channel, started);
      return this.state(result.channel);
    });
  }

  /** Sends a self-remove proposal, again after a nack once the newer epoch is applied. */
  private async requestLeave(channel: string): Promise<void> {
    for (let attempt = 0; attempt < COMMIT_ATTEMPTS && this.mls.channels().includes(channel); attempt++) {
      const verdict = await withTimeout(this.relay.sendProposal(await this.mls.proposeLeave(channel)), this.sendTimeoutMs, "the leave request is queued");
      if (verdict.kind === "ack") return;
      await this.until(() => (this.processed.get(channel) ?? -1) >= Number(verdict.winningSeq), 30_000, "the relay did not deliver the commit that won", "relay_unreachable");
    }
  }

  leave(channel: string): Promise<{ channel: string; status: "left" | "leave_requested" }> {
    return this.guard(async () => {
      await this.mls.channelInfo(channel);
      this.leaving.add(channel);
      await this.requestLeave(channel);
      try {
        await this.until(() => !this.mls.channels().includes(channel), 5000, "");
        return { channel, status: "left" as const };
      } catch {
        return { channel, status: "leave_requested" as const };
      }
    });
  }

  invite(channel: string, options: { maxUses: number; ttlSeconds: number }): Promise<{ invite: string; expiresAt: Date }> {
    return this.guard(async () => {
      const { maxUses, ttlSeconds } = options;
      if (!Number.isInteger(maxUses) || maxUses < 1 || maxUses > 1000) throw new AgentError("bad_request", "max_uses must be 1-1000");
      if (!Number.isInteger(ttlSeconds) || ttlSeconds < 60 || ttlSeconds > 30 * 24 * 3600) throw new AgentError("bad_request", "ttl_seconds must be 60 s to 30 days");
      const info = await this.mls.channelInfo(channel);
      const relayKey = this.config.relayKey ?? relayBases(this.relayUrl).map((base) => this.pins().get(base)).find((key) => key !== undefined);
      if (relayKey === undefined) throw new AgentError("relay_unreachable", "the relay's key is not known yet (never connected); try again once connected");
      const id = new Uint8Array(randomBytes(16));
      const secret = new Uint8Array(randomBytes(32));
      const expiresAt = Math.floor(Date.now() / 1000) + ttlSeconds;
      const invite = { id, channel, secret, expiresAt, maxUses };
      await withTimeout(this.relay.sendMessage(await this.encryptControl(channel, inviteNotice(invite, 0))), this.sendTimeoutMs, "the invite is queued for the other members");
      this.store.saveInvite(invite);
      const token = encodeInvite({ channel, groupId: info.groupId, relayUrl: relayBases(this.relayUrl).join(","), relayKey, id, secret, expiresAt });
      return { invite: token, expiresAt: new Date(expiresAt * 1000) };
    });
  }

  private pins(): RelayKeyPins {
    return new RelayKeyPins(join(this.store.dir, RELAY_KEY_PIN_FILE));
  }

  /** A control message, encrypted like text (committing pending proposals first if needed). */
  private async encryptControl(channel: string, notice: Uint8Array): Promise<Uint8Array> {
    if (await this.hasPendingProposals(channel)) {
      await this.commitIntent(channel, () => this.mls.commitPendingProposals(channel), [], async () => !(await this.hasPendingProposals(channel)));
    }
    return this.mls.encrypt(channel, notice);
  }

  /**
   * New members cannot read notices sent before they joined: the member whose commit added them
   * tells them the invites still open, with the uses counted so far.
   */
  private async shareInvites(channel: string): Promise<void> {
    for (const invite of this.store.activeInvites(channel, Math.floor(Date.now() / 1000))) {
      await this.relay.sendMessage(await this.encryptControl(channel, inviteNotice(invite, invite.uses)));
    }
  }

  private rememberInvite(channel: string, notice: { id: string; secret: string; expiresAt: number; maxUses: number; uses: number }): void {
    const id = new Uint8Array(Buffer.from(notice.id, "hex"));
    const secret = new Uint8Array(Buffer.from(notice.secret, "base64url"));
    if (id.length !== 16 || secret.length !== 32 || !Number.isInteger(notice.uses) || notice.uses < 0) return;
    this.store.saveInvite({ id, channel, secret, expiresAt: notice.expiresAt, maxUses: notice.maxUses }, notice.uses);
  }

  /**
   * Every member sees a join request at the same place in the channel's order, so every member
   * counts the invite's uses alike; each tries to commit the Add and the relay lets one win.
   */
  private considerJoinRequest(channel: string, payload: Uint8Array, from: string): void {
    const request = decodeJoinRequest(payload);
    if (request === undefined) return;
    const invite = this.store.loadInvite(request.inviteId);
    if (invite === undefined || invite.channel !== channel) return;
    if (invite.expiresAt < Math.floor(Date.now() / 1000)) return this.log(`join request for an expired invite on ${channel}`);
    if (!macMatches(joinMac(invite.secret, request.inviteId, request.keyPackage, request.agent), request.mac)) {
      return this.log(`join request with a bad MAC on ${channel}`);
    }
    // The key package must be the requester's own: the name the relay authenticated, the name in
    // the request and the name in the credential agree, or someone else would be pulled in.
    let name: string | undefined;
    try {
      name = parseCredential(decodeKeyPackageMessage(request.keyPackage).leafNode.credential)?.name;
    } catch {
      return this.log(`join request with a malformed key package on ${channel}`);
    }
    if (name !== request.agent || name !== from) return this.log(`join request on ${channel} whose key package is not its sender's`);
    if (!this.store.useInvite(request.inviteId)) return this.log(`join request for a used-up invite on ${channel}`);
    const isMember = async () => (await this.state(channel)).members.includes(request.agent);
    void this.commitIntent(channel, () => this.mls.addMembers(channel, [request.keyPackage]), [request.agent], isMember)
      .then((r) => (r.committed ? this.shareInvites(channel) : undefined))
      .catch((e: unknown) => this.quiet(e));
  }

  joinWithInvite(token: string, waitMs = 10_000): Promise<JoinResult> {
    return this.guard(async () => {
      const invite = decodeInvite(token);
      if (invite.expiresAt < Math.floor(Date.now() / 1000)) throw new AgentError("invite_invalid", "this invite has expired; ask a member for a new one");
      if (!sameRelay(invite.relayUrl, this.relayUrl)) {
        throw new AgentError("invite_invalid", `this invite is for the relay ${invite.relayUrl}, but this agent uses ${this.relayUrl}; set SKYTALE_RELAY to it`);
      }
      if (this.mls.channels().includes(invite.channel)) throw new AgentError("already_exists", `already a member of '${invite.channel}'`);
      if (this.config.relayKey === undefined) for (const base of relayBases(invite.relayUrl)) this.pins().record(base, invite.relayKey);
      this.expectedWelcomes.add(hex(invite.groupId));
      const keyPackage = await this.mls.createKeyPackage();
      const mac = joinMac(invite.secret, invite.id, keyPackage, this.config.name);
      const payload = encodeJoinRequest({ inviteId: invite.id, agent: this.config.name, keyPackage, mac });
      await withTimeout(this.relay.forward("JoinRequest", { kind: "channel", channel: invite.groupId }, payload), this.sendTimeoutMs, "the join request is queued for the relay");
      try {
        await this.until(() => this.mls.channels().includes(invite.channel), waitMs, "");
        return { status: "joined" as const, ...(await this.state(invite.channel)) };
      } catch {
        return { status: "pending" as const, channel: invite.channel };
      }
    });
  }

  joinWithWelcome(channel: string, welcome: Uint8Array): Promise<JoinResult> {
    return this.guard(async () => {
      decodeWelcomeMessage(welcome);
      let info: Awaited<ReturnType<MlsAgent["join"]>>;
      try {
        info = await this.mls.join(welcome);
      } catch (error) {
        // The same Welcome also reached our relay inbox; if that copy won, we are in already.
        const raced = error instanceof MlsError && (error.code === "unknown_key_package" || error.code === "already_exists");
        if (raced && this.mls.channels().includes(channel)) return { status: "joined" as const, ...(await this.state(channel)) };
        throw error;
      }
      this.joinedAtEpoch.set(info.channel, info.epoch);
      this.adopt(info.channel, info.groupId, -1);
      if (info.channel !== channel) {
        throw new AgentError("bad_request", `that Welcome opens '${info.channel}', not '${channel}' (joined '${info.channel}' anyway)`);
      }
      return { status: "joined" as const, ...stateOf(channel, info) };
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.progress.forEach((wake) => wake());
    this.timers.forEach((t) => clearTimeout(t));
    await this.relay.close();
    await this.stream;
    this.store.close();
    await this.localRelay?.close();
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

function inviteNotice(invite: StoredInvite, uses: number): Uint8Array {
  return encodeControl({ t: "invite", id: hex(invite.id), secret: Buffer.from(invite.secret).toString("base64url"), expiresAt: invite.expiresAt, maxUses: invite.maxUses, uses });
}

/** The relay's error code behind an AgentError that a relay refusal became, if any. */
function relayCodeOf(error: unknown): string | undefined {
  const cause = error instanceof AgentError ? error.cause : error;
  return cause instanceof TransportError ? cause.relayCode : undefined;
}

function ignoreCode(error: unknown, code: string): void {
  if (!(error instanceof MlsError) || error.code !== code) throw error;
}

async function withTimeout<T>(promise: Promise<T>, ms: number, queuedHint: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(queuedError(`the relay did not answer in ${ms / 1000} s; ${queuedHint}`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } catch (error) {
    if (!(error instanceof TransportError)) throw error;
    // Only a request the relay client kept (a link that may come back) is "queued"; a refused
    // token, a changed key, a full request queue or a closed client did not keep it.
    const mapped = toAgentError(error);
    if (mapped.code !== "relay_unreachable" || NOT_TAKEN_CODES.has(error.code)) throw mapped;
    throw queuedError(`${error.message}; ${queuedHint}`, error);
  } finally {
    clearTimeout(timer);
  }
}

/** relay_unreachable errors that told the caller its request is queued. */
const queuedErrors = new WeakSet<AgentError>();

function queuedError(message: string, cause?: TransportError): AgentError {
  const error = new AgentError("relay_unreachable", message, cause === undefined ? undefined : { cause });
  queuedErrors.add(error);
  return error;
}

function isQueued(error: unknown): boolean {
  return error instanceof AgentError && queuedErrors.has(error);
}
