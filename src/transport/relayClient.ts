import { coverProblem, DEFAULT_COVER, type CoverConfig, type Timers } from "../wire/cover.js";
import { decodeEnvelope, encodeEnvelope, type Envelope, type EnvelopeOf, type RelayThroughType, type Target } from "../wire/envelope.js";
import { backoffDelay, DEFAULT_BACKOFF, type BackoffPolicy } from "./backoff.js";
import { Deferred } from "./deferred.js";
import { routeDelivery, type ChannelDelivery, type InboxDelivery } from "./deliveries.js";
import { Emitter } from "./emitter.js";
import { FATAL_CODES, TransportError } from "./errors.js";
import type { CommitProof } from "../wire/commitProof.js";
import { ED25519_SIGNATURE_BYTES } from "../wire/ed25519.js";
import { MemoryOutbox, type Outbox } from "./outbox.js";
import { RelayKeyPins } from "./relayKeyPin.js";
import { chooseRelayKey, type RelayKeySource } from "./relayKeySource.js";
import { RelayEndpoints, relayBases } from "./relayEndpoints.js";
import { RelayLink } from "./relayLink.js";
import { linkUrl } from "./relayUrl.js";
import { RequestTracker } from "./requestTracker.js";
import { REPLY_TYPES, type ReplyOf, type RelayRequest } from "./requests.js";
import { IGNORE_REPLY, Session } from "./session.js";
import { SubscriptionTable } from "./subscriptionTable.js";

export interface RelayClientOptions {
  /**
   * The relay, `ws://host:port` or `wss://host:port` (the `/v1/link` path is added), or the nodes
   * of one clustered relay separated by commas: the client fails over from one to the next.
   */
  readonly url: string;
  /** This agent's name, as the relay binds it to its key. */
  readonly agent: string;
  /**
   * This agent's identity key and a proof of it for a link: a signature of linkAuthBytes(binding,
   * agent) (wire/linkAuth.ts) by the identity key. The relay keys everything by this key.
   */
  readonly identity: { readonly key: Uint8Array; prove(binding: Uint8Array): Promise<Uint8Array> };
  /** Bearer token (SKYTALE_TOKEN); empty for an open loopback relay. */
  readonly token?: string;
  /** The relay's X25519 public key (SKYTALE_RELAY_KEY). Without it, `pinFile` records the first key seen. */
  readonly relayKey?: Uint8Array;
  /** The trust-on-first-use record, e.g. join(dataDir, RELAY_KEY_PIN_FILE); required without `relayKey`. */
  readonly pinFile?: string;
  /** Where requests wait for their answer; default in memory, so lost when the process ends. */
  readonly outbox?: Outbox;
  /** Next seq wanted from a channel, asked on every (re)subscribe; default one past the last delivered. */
  readonly cursor?: (channel: Uint8Array) => bigint;
  /** Next seq wanted from the inbox, asked on every (re)subscribe; default one past the last delivered. */
  readonly inboxCursor?: () => bigint;
  /** Cover traffic; default poisson, 8 frames of 1 KiB per second (see coverFromEnv). */
  readonly cover?: CoverConfig;
  /** How long a caller waits for an answer (or connect() for a link), across reconnects: default 60 s. */
  readonly requestTimeoutMs?: number;
  /** How long one attempt may take to connect, handshake and authenticate: default 10 s. */
  readonly handshakeTimeoutMs?: number;
  /** Ping after this much silence and drop the link after twice as much: default 15 s; 0 turns it off. */
  readonly pingIntervalMs?: number;
  readonly backoff?: BackoffPolicy;
  /** Most requests (and connect/subscribe calls) awaiting an answer at once: default 1024. */
  readonly maxPending?: number;
  /** Most channels subscribed at once: default 4096. */
  readonly maxSubscriptions?: number;
  readonly timers?: Timers;
  /** A monotonic clock, ms (silence, reassembly timeouts, cover slots); performance.now by default. */
  readonly now?: () => number;
  readonly random?: () => number;
}

/** idle: connect() not called yet; waiting: between attempts; failed: stopped by a fatal error. */
export type ConnectionState = "idle" | "connecting" | "connected" | "waiting" | "failed" | "closed";

/** The relay's verdict on a proposal or commit. */
export type GroupResult =
  | { readonly kind: "ack"; readonly channel: Uint8Array; readonly epoch: bigint; readonly seq: bigint }
  | { readonly kind: "nack"; readonly channel: Uint8Array; readonly epoch: bigint; readonly winningSeq: bigint };

export interface RelayClientEvents {
  channel: (delivery: ChannelDelivery) => void;
  inbox: (delivery: InboxDelivery) => void;
  /** Every state change; `reason` says why a link ended or an attempt failed. */
  state: (change: { readonly state: ConnectionState; readonly reason: TransportError | undefined }) => void;
  /**
   * The relay acknowledged a channel (or, without one, inbox) subscription; its replay from
   * `fromSeq` comes next. Emitted in stream order, between the deliveries before and after it.
   */
  subscribed: (ack: { readonly channel: Uint8Array | undefined; readonly fromSeq: bigint; readonly lastSeq: bigint }) => void;
  /**
   * The relay answered a request whose caller no longer waits (its deadline passed or its link
   * dropped while the outbox kept it, or an earlier process queued it): `error` when it refused it.
   */
  answeredLate: (answer: { readonly request: RelayRequest; readonly error: TransportError | undefined }) => void;
  /** Fatal errors, protocol violations, throwing listeners. */
  error: (error: TransportError) => void;
}

/** realTimers from wire/cover.ts unref their handles; a client waiting to reconnect should keep the process up. */
const refTimers: Timers = {
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as NodeJS.Timeout),
};

/**
 * The client side of the relay link: one authenticated connection kept up with backoff, channel
 * and inbox subscriptions resumed from the caller's cursors, and requests that survive reconnects
 * (and, with a persistent outbox, restarts) until the relay answers them.
 */
export class RelayClient {
  private readonly endpoints: RelayEndpoints;
  private readonly keySource: RelayKeySource;
  private readonly cover: CoverConfig;
  private readonly timers: Timers;
  private readonly now: () => number;
  private readonly random: () => number;
  private readonly events: Emitter<RelayClientEvents>;
  private readonly requests: RequestTracker;
  private readonly subscriptions: SubscriptionTable;
  private readonly requestTimeoutMs: number;
  private readonly handshakeTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly maxPending: number;

  private current: ConnectionState = "idle";
  private fatal: TransportError | undefined;
  private lastReason: TransportError | undefined;
  private session: Session | undefined;
  private failedAttempts = 0;
  private retryTimer: unknown;
  private keyFetch: AbortController | undefined;
  private attempt: Promise<void> | undefined;
  private readonly linksClosing = new Set<Promise<void>>();
  private nextRequestId = 1n;
  /** Every promise a caller awaits, so that close() and fatal errors can settle them all. */
  private readonly live = new Set<{ reject(error: TransportError): void }>();
  private readonly connectWaiters = new Set<Deferred<void>>();

  constructor(private readonly options: RelayClientOptions) {
    this.keySource = keySourceOf(options);
    try {
      // Decoding applies the relay's own checks to the agent id and token size.
      const signature = new Uint8Array(ED25519_SIGNATURE_BYTES);
      decodeEnvelope(encodeEnvelope({ type: "Auth", id: 1n, agent: options.agent, key: options.identity.key, signature, token: options.token ?? "" }));
    } catch (cause) {
      throw new TransportError("bad_config", `agent name, identity key or token is not acceptable: ${(cause as Error).message}`, { cause });
    }
    this.cover = options.cover ?? DEFAULT_COVER.poisson;
    const problem = coverProblem(this.cover);
    if (problem !== undefined) throw new TransportError("bad_config", problem);
    this.timers = options.timers ?? refTimers;
    this.now = options.now ?? (() => performance.now());
    this.random = options.random ?? Math.random;
    this.endpoints = new RelayEndpoints(relayBases(options.url), this.random);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.handshakeTimeoutMs = options.handshakeTimeoutMs ?? 10_000;
    this.pingIntervalMs = options.pingIntervalMs ?? 15_000;
    this.maxPending = options.maxPending ?? 1024;
    this.events = new Emitter<RelayClientEvents>((error, event) => {
      if (event !== "error") this.report(new TransportError("listener_failed", `a ${String(event)} listener threw`, { cause: error }));
    });
    const report = (error: TransportError) => this.report(error);
    const defer = <T>(what: string, onTimeout?: () => void) => this.defer<T>(what, onTimeout);
    const backoff = options.backoff ?? DEFAULT_BACKOFF;
    const retryDelay = (n: number) => backoffDelay(n, this.random, backoff);
    this.requests = new RequestTracker(options.outbox ?? new MemoryOutbox(), defer, report, retryDelay, (request, error) =>
      this.events.emit("answeredLate", { request, error }),
    );
    this.subscriptions = new SubscriptionTable(options.maxSubscriptions ?? 4096, options, defer, report, retryDelay, (channel, fromSeq, lastSeq) =>
      this.events.emit("subscribed", { channel, fromSeq, lastSeq }),
    );
  }

  /** The connection's state now. */
  get state(): ConnectionState {
    return this.current;
  }

  /** Why the last attempt failed or the last link ended; undefined once connected. */
  get lastFailure(): TransportError | undefined {
    return this.lastReason;
  }

  /** Adds an event listener; the returned function removes it. */
  on<K extends keyof RelayClientEvents>(event: K, listener: RelayClientEvents[K]): () => void {
    return this.events.on(event, listener);
  }

  /**
   * Starts connecting (once) and resolves when the link is authenticated. Rejects on a fatal error
   * (auth_failed, relay_key_mismatch, bad_config), on close(), or with timeout while reconnection goes on.
   */
  connect(): Promise<void> {
    const refused = this.refusal();
    if (refused !== undefined) return Promise.reject(refused);
    if (this.current === "connected") return Promise.resolve();
    const waiter = this.defer<void>("connect", () => this.connectWaiters.delete(waiter));
    this.connectWaiters.add(waiter);
    if (this.current === "idle") this.startAttempt();
    return waiter.promise;
  }

  /**
   * Follows a channel from `fromSeq` (after a reconnect, from the cursor); resolves with its last
   * seq. The subscription stays registered even if this promise times out before a link is up.
   */
  subscribe(channel: Uint8Array, fromSeq: bigint): Promise<bigint> {
    const refused = this.refusal() ?? this.full();
    return refused === undefined ? this.subscriptions.follow(channel, fromSeq, this.session) : Promise.reject(refused);
  }

  /**
   * Has the relay deliver a followed channel again from `fromSeq`, even frames this link
   * delivered already (the caller found some missing or altered). The `subscribed` event marks
   * where the replay starts in the stream.
   */
  refetch(channel: Uint8Array, fromSeq: bigint): void {
    if (this.refusal() === undefined) this.subscriptions.refetch(channel, fromSeq, this.session);
  }

  /** Like refetch(), for this agent's inbox. */
  refetchInbox(fromSeq: bigint): void {
    if (this.refusal() === undefined) this.subscriptions.refetch(undefined, fromSeq, this.session);
  }

  /** Follows this agent's inbox from `fromSeq`; resolves with the last inbox seq. */
  subscribeInbox(fromSeq: bigint): Promise<bigint> {
    const refused = this.refusal() ?? this.full();
    return refused === undefined ? this.subscriptions.follow(undefined, fromSeq, this.session) : Promise.reject(refused);
  }

  /** Stops following a channel; frames of it still in flight are dropped. */
  unsubscribe(channel: Uint8Array): void {
    this.subscriptions.unsubscribe(channel, this.session);
  }

  /** Publishes an MLS application message; resolves with its seq in the channel. */
  async sendMessage(body: Uint8Array): Promise<bigint> {
    return (await this.request({ type: "Msg", body })).seq;
  }

  /** Publishes an MLS proposal; accepted only on the channel's current epoch. */
  async sendProposal(body: Uint8Array): Promise<GroupResult> {
    return groupResult(await this.request({ type: "GroupProposal", body }));
  }

  /** Publishes an MLS commit (and the Welcome for added members); one commit wins per epoch. */
  async sendCommit(commit: Uint8Array, welcome?: { recipients: Uint8Array[]; welcome: Uint8Array }, proof?: CommitProof): Promise<GroupResult> {
    return groupResult(await this.request({ type: "GroupCommit", commit, welcome, proof }));
  }

  /** Sends an opaque relay-through frame to a channel or an agent's inbox; resolves with its seq there. */
  async forward(type: RelayThroughType, target: Target, payload: Uint8Array): Promise<bigint> {
    // The relay fills in `from` with our authenticated identity key.
    return (await this.request({ type, target, from: new Uint8Array(0), payload })).seq;
  }

  /** Opens a channel this agent created (wire/channelOpen.ts); nothing is accepted on it before. */
  async openChannel(open: { channel: Uint8Array; nonce: Uint8Array; commitKey: Uint8Array; signature: Uint8Array }): Promise<void> {
    await this.request({ type: "ChannelOpen", ...open });
  }

  /** The identity key the relay knows under `agent` (the first to claim the name, or the one a token names). */
  async lookupName(agent: string): Promise<Uint8Array | undefined> {
    return (await this.request({ type: "NameLookup", agent })).key;
  }

  /**
   * Publishes a key package for others to add this agent with (a `lastResort` one replaces the
   * previous); resolves with the single-use packages the relay now holds for this agent.
   */
  async publishKeyPackage(keyPackage: Uint8Array, lastResort = false): Promise<number> {
    return Number((await this.request({ type: "KeyPackagePublish", lastResort, keyPackage })).seq);
  }

  /** Takes one key package of the agent holding identity key `key`; undefined when it has none. */
  async fetchKeyPackage(key: Uint8Array): Promise<Uint8Array | undefined> {
    return (await this.request({ type: "KeyPackageFetch", key })).keyPackage;
  }

  /** Lets the relay delete inbox items up to `upToSeq`, once they are safely processed. */
  async ackInbox(upToSeq: bigint): Promise<void> {
    await this.request({ type: "InboxAck", upToSeq });
  }

  /** Round trip to the relay. */
  async ping(): Promise<void> {
    await this.request({ type: "Ping" });
  }

  /** Stops everything: no timers or sockets remain. Unanswered durable requests stay in the outbox. */
  async close(): Promise<void> {
    if (this.current !== "closed") {
      this.stop("closed", new TransportError("closed", "the relay client was closed"));
      this.keyFetch?.abort();
    }
    await Promise.all([this.attempt, ...this.linksClosing]);
  }

  private async request<R extends RelayRequest>(request: R): Promise<EnvelopeOf<ReplyOf<R["type"]>>> {
    const refused = this.refusal() ?? this.full();
    if (refused !== undefined) throw refused;
    // The tracker only resolves with a reply type that answers the request (expectedReplies).
    return (await this.requests.submit(request, this.session)) as EnvelopeOf<ReplyOf<R["type"]>>;
  }

  private refusal(): TransportError | undefined {
    if (this.current === "closed") return new TransportError("closed", "the relay client was closed");
    return this.fatal;
  }

  private full(): TransportError | undefined {
    return this.live.size >= this.maxPending ? new TransportError("busy", `${this.maxPending} requests are already waiting`) : undefined;
  }

  private defer<T>(what: string, onTimeout: () => void = () => {}): Deferred<T> {
    const deferred: Deferred<T> = new Deferred<T>(
      this.timers,
      this.requestTimeoutMs,
      () => {
        onTimeout();
        return new TransportError("timeout", `${what}: no answer from the relay within ${this.requestTimeoutMs} ms`);
      },
      () => this.live.delete(deferred),
    );
    this.live.add(deferred);
    return deferred;
  }

  private startAttempt(): void {
    this.setState("connecting", undefined);
    this.attempt = this.runAttempt().finally(() => {
      this.attempt = undefined;
    });
  }

  private async runAttempt(): Promise<void> {
    const keyFetch = new AbortController();
    this.keyFetch = keyFetch;
    let session: Session | undefined;
    try {
      const base = this.endpoints.current;
      const relay = await chooseRelayKey(this.endpoints.all, base, this.keySource, keyFetch.signal);
      if (this.stopped) return;
      session = new Session(this.timers, () => this.nextRequestId++, (s) => this.openLink(s, base, relay.key, relay.mismatch));
      this.session = session;
      await session.link.ready;
      relay.record?.();
      const binding = session.link.binding;
      if (binding === undefined) throw new TransportError("protocol_error", "the link has no binding after its handshake");
      const signature = await this.options.identity.prove(binding);
      if (this.session === session && !this.stopped) this.authenticate(session, signature);
    } catch (error) {
      if (session !== undefined) this.closeLink(session);
      this.attemptFailed(asTransportError(error));
    }
  }

  private openLink(session: Session, base: string, relayKey: Uint8Array, mismatchMessage: string): RelayLink {
    return new RelayLink({
      url: linkUrl(base),
      relayKey,
      mismatchMessage,
      cover: this.cover,
      timers: this.timers,
      random: this.random,
      now: this.now,
      handshakeTimeoutMs: this.handshakeTimeoutMs,
      onEnvelope: (envelope) => this.onEnvelope(session, envelope),
      onClose: (reason) => this.onLinkClosed(session, reason),
    });
  }

  private authenticate(session: Session, signature: Uint8Array): void {
    session.later(this.handshakeTimeoutMs, () => {
      if (!session.authenticated) session.link.fail(new TransportError("timeout", "the relay did not answer Auth in time"));
    });
    const agent = this.options.agent;
    session.request(
      { type: "Auth", agent, key: this.options.identity.key, signature, token: this.options.token ?? "" },
      {
        expects: ["AuthOk"],
        onReply: (reply) => this.authenticated(session, reply),
        onRelayError: (error) => {
          const refused = `the relay refused agent "${agent}": ${error.code}: ${error.message}`;
          if (error.code === "auth_failed") this.fail(new TransportError("auth_failed", refused, { relayCode: error.code }));
          else session.link.fail(new TransportError("rejected", refused, { relayCode: error.code }));
        },
        onFailure: (error) => session.link.fail(error),
      },
    );
  }

  private authenticated(session: Session, reply: Envelope): void {
    if (reply.type !== "AuthOk" || reply.agent !== this.options.agent || !sameBytes(reply.key, this.options.identity.key)) {
      return this.protocolError(session, "the relay authenticated a different agent or key");
    }
    session.authenticated = true;
    this.failedAttempts = 0;
    this.endpoints.succeeded();
    this.setState("connected", undefined);
    for (const waiter of this.connectWaiters) waiter.resolve();
    this.connectWaiters.clear();
    this.keepAlive(session);
    this.subscriptions.resubscribe(session);
    // Unanswered requests go out first and in their original order; new work can only follow.
    this.requests.resend(session);
  }

  private keepAlive(session: Session): void {
    if (this.pingIntervalMs <= 0) return;
    const check = () => {
      const silent = this.now() - session.link.lastReceivedAt;
      if (silent >= 2 * this.pingIntervalMs) {
        return session.link.fail(new TransportError("timeout", `the relay has been silent for ${silent} ms`));
      }
      if (silent >= this.pingIntervalMs && !session.pingOutstanding) {
        session.pingOutstanding = true;
        const done = () => {
          session.pingOutstanding = false;
        };
        session.request({ type: "Ping" }, { ...IGNORE_REPLY, onReply: done });
      }
      session.later(this.pingIntervalMs, check);
    };
    session.later(this.pingIntervalMs, check);
  }

  private onEnvelope(session: Session, envelope: Envelope): void {
    if (this.session !== session) return;
    // One frame answering several requests: each entry settles like an Ack of its own.
    if (envelope.type === "Acks") {
      for (const { id, seq } of envelope.acks) this.onEnvelope(session, { type: "Ack", id, seq });
      return;
    }
    if (REPLY_TYPES.has(envelope.type)) {
      const problem = session.answer(envelope);
      if (problem !== undefined) this.report(problem);
      return;
    }
    if (!session.authenticated) return this.protocolError(session, `the relay sent ${envelope.type} before authentication`);
    let delivery: ChannelDelivery | InboxDelivery | undefined;
    try {
      delivery = routeDelivery(envelope);
    } catch (cause) {
      // Skipped rather than reconnecting, which would only replay it.
      return this.report(new TransportError("protocol_error", `the relay delivered seq ${envelope.id} with an unreadable MLS header`, { cause }));
    }
    if (delivery === undefined) return this.report(new TransportError("protocol_error", `the relay sent an unexpected ${envelope.type}`));
    if (!this.subscriptions.accept(session, delivery)) return;
    if (delivery.kind === "inbox") this.events.emit("inbox", delivery);
    else this.events.emit("channel", delivery);
  }

  private protocolError(session: Session, message: string): void {
    const error = new TransportError("protocol_error", message);
    this.report(error);
    session.link.fail(error);
  }

  private onLinkClosed(session: Session, reason: TransportError): void {
    if (this.session !== session) return;
    this.endSession(session);
    if (this.stopped) return;
    this.setState("waiting", reason);
    this.scheduleAttempt();
  }

  private attemptFailed(error: TransportError): void {
    if (this.stopped) return;
    if (FATAL_CODES.has(error.code)) return this.fail(error);
    if (error.code === "protocol_error") this.report(error);
    this.setState("waiting", error);
    this.scheduleAttempt();
  }

  private scheduleAttempt(): void {
    // The next node of a clustered relay is tried at once; only a whole round of failures backs off.
    const delay = this.endpoints.advance() ? backoffDelay(this.failedAttempts++, this.random, this.options.backoff ?? DEFAULT_BACKOFF) : 0;
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.stopped) this.startAttempt();
    }, delay);
  }

  private endSession(session: Session): void {
    session.end();
    if (this.session === session) this.session = undefined;
  }

  /** Ends a session and closes its link; close() waits for every such close. */
  private closeLink(session: Session): void {
    this.endSession(session);
    const closing = session.link.close();
    this.linksClosing.add(closing);
    void closing.then(() => this.linksClosing.delete(closing));
  }

  /** A fatal error: retrying cannot help, so the client stops and says why. */
  private fail(error: TransportError): void {
    if (this.stopped) return;
    this.fatal = error;
    this.stop("failed", error);
    this.report(error);
  }

  private stop(state: "failed" | "closed", reason: TransportError): void {
    this.setState(state, reason);
    this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    for (const waiter of [...this.live]) waiter.reject(reason);
    if (this.session !== undefined) this.closeLink(this.session);
  }

  private get stopped(): boolean {
    return this.current === "closed" || this.current === "failed";
  }

  private setState(state: ConnectionState, reason: TransportError | undefined): void {
    if (state === this.current && reason === undefined) return;
    this.current = state;
    if (state === "connected") this.lastReason = undefined;
    else if (reason !== undefined) this.lastReason = reason;
    this.events.emit("state", { state, reason });
  }

  private report(error: TransportError): void {
    this.events.emit("error", error);
  }
}

function keySourceOf(options: RelayClientOptions): RelayKeySource {
  if (options.relayKey !== undefined) {
    if (options.relayKey.length !== 32) throw new TransportError("bad_config", "relayKey must be 32 bytes");
    return { kind: "configured", key: options.relayKey };
  }
  if (options.pinFile === undefined) {
    throw new TransportError("bad_config", "set the relay key (SKYTALE_RELAY_KEY) or give a pinFile to record it on first use");
  }
  return { kind: "recorded", pins: new RelayKeyPins(options.pinFile) };
}

function groupResult(reply: EnvelopeOf<"GroupAck" | "GroupNack">): GroupResult {
  return reply.type === "GroupAck"
    ? { kind: "ack", channel: reply.channel, epoch: reply.epoch, seq: reply.seq }
    : { kind: "nack", channel: reply.channel, epoch: reply.epoch, winningSeq: reply.winningSeq };
}

function asTransportError(error: unknown): TransportError {
  if (error instanceof TransportError) return error;
  return new TransportError("unreachable", `connecting to the relay failed: ${(error as Error).message}`, { cause: error });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}
