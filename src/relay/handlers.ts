import { encodeEnvelope, isRelayThrough, MAX_ACKS, setEnvelopeId, type AckEntry, type Envelope, type EnvelopeOf, type RelayThroughType } from "../wire/envelope.js";
import { WireError } from "../wire/errors.js";
import { readMlsRouting, type MlsRouting } from "../wire/mlsHeader.js";
import { channelOpenValid } from "../wire/channelOpen.js";
import { commitProofValid } from "../wire/commitProof.js";
import { linkAuthValid } from "../wire/linkAuth.js";
import { MAX_KEY_PACKAGES, StoreUnavailable, type ChannelFrame, type ChannelLog, type ChannelWrite, type InboxItem, type WriteFailure } from "./channelLog.js";
import type { RelayConfig } from "./config.js";
import type { RelayConnection } from "./connection.js";
import type { RelayMetrics } from "./metrics.js";
import { OrderedFeed } from "./orderedFeed.js";
import { describeRefusal, Quotas, type QuotaName } from "./quotas.js";
import type { ReplayBudget } from "./replayBudget.js";
import type { Revocations } from "./revocations.js";
import type { SendGate } from "./sendGate.js";
import { checkToken, type TokenClaims } from "./token.js";

/** Archive frames read per query while replaying a subscription (and at most replayBatchBytes of them). */
const REPLAY_BATCH = 512;

/** A view, not a copy: the fan-out computes this once per message. */
const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
/** A principal (hex) as the identity key it names. */
const keyOf = (principal: string) => new Uint8Array(Buffer.from(principal, "hex"));
/** A principal as error messages show it: enough to tell agents apart, not the whole key. */
const shortAgent = (principal: string) => `agent ${principal.slice(0, 16)}…`;

/** Sequence numbers and epochs are stored as SQLite integers (signed 64-bit). */
const MAX_STORED_INTEGER = 2n ** 63n - 1n;

function storable(n: bigint, what: string): bigint {
  if (n > MAX_STORED_INTEGER) throw new Refusal("bad_request", `${what} is out of range`);
  return n;
}

/** A request refused with an Error envelope; the link stays up. */
class Refusal extends Error {
  constructor(
    readonly code: "bad_request" | "limit_exceeded" | "too_large" | "forbidden" | "stale_epoch" | "unknown_channel" | "quota_exceeded",
    message: string,
  ) {
    super(message);
  }
}

/** One link following one channel. */
interface ChannelSubscription {
  readonly conn: RelayConnection;
  readonly channel: Uint8Array;
  readonly feed: OrderedFeed<ChannelFrame>;
}

/** One link following its principal's inbox. */
interface InboxSubscription {
  readonly conn: RelayConnection;
  readonly feed: OrderedFeed<InboxItem>;
}

/**
 * What the relay does with each envelope: authentication (of identity keys; names are labels
 * bound to keys by the name registry), channel openings, the sequencer (through ChannelLog's
 * compare-and-set), fan-out to subscribers, inboxes and the key-package directory, all keyed by
 * principal (the identity key in hex). It never reads an MLS message beyond its cleartext header.
 */
export class RelayHandlers {
  /** Channel (hex) → its subscriptions on this relay. */
  private readonly subscribers = new Map<string, Set<ChannelSubscription>>();
  /** Link → its channel subscriptions by channel (hex). */
  private readonly followed = new Map<RelayConnection, Map<string, ChannelSubscription>>();
  private readonly inboxReaders = new Map<string, Set<InboxSubscription>>();
  private readonly inboxOf = new Map<RelayConnection, InboxSubscription>();
  private queue: [RelayConnection, string, Envelope, Uint8Array][] = [];
  /** The Msg acks of the writes being settled, per link: each list goes out as one frame (see ack()). */
  private readonly batchAcks = new Map<RelayConnection, AckEntry[]>();
  /** The links answered by the writes being settled: they get their frames before the fan-out to others. */
  private settling: Set<RelayConnection> | undefined;
  /** Links whose Auth is being checked (the name registry is asked): nothing else is taken from them meanwhile. */
  private readonly authenticating = new WeakSet<RelayConnection>();
  /** What each identity may have this node store or take, per period (quotas.ts). */
  private readonly quotas: Quotas;

  constructor(
    private readonly log: ChannelLog,
    private readonly config: RelayConfig,
    private readonly metrics: RelayMetrics,
    private readonly connections: ReadonlySet<RelayConnection>,
    private readonly report: (line: string) => void,
    private readonly revocations: Revocations,
    private readonly gate: SendGate<RelayConnection>,
    /** Replays stream through it: one batch per link at a time, within a relay-wide budget of bytes. */
    private readonly replays: ReplayBudget<RelayConnection>,
    clock: () => number = Date.now,
  ) {
    this.quotas = new Quotas(config.limits.quotas, clock);
    metrics.quotas = this.quotas;
    log.listen({
      frames: (channel, frames) => frames.forEach((f) => this.fanOut(channel, f)),
      inbox: (principal, item) => this.inboxReaders.get(principal)?.forEach((r) => r.feed.offer(item)),
    });
  }

  /**
   * Requests are queued and handled together at the end of this turn of the event loop: their
   * channel writes go to the log as one batch (SQLite: one transaction, group commit). The log
   * settles writes in groups; the replies and fan-out of a group are held in the SendGate while
   * its `done`s run, then the links that made requests get their frames first, in order, and
   * those are on their way before the fan-out to the other links is sealed (once per subscriber,
   * the bulk of the work): a publisher hears its acks without waiting for every subscriber's copy.
   * `bytes` is `e` as it arrived, encoded: a Msg is fanned out from them.
   */
  handle(conn: RelayConnection, e: Envelope, bytes: Uint8Array): void {
    const agent = conn.agent;
    if (agent === undefined) return this.authenticate(conn, e);
    if (this.queue.length === 0) setImmediate(() => this.flush());
    this.queue.push([conn, agent, e, bytes]);
  }

  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const writes: ChannelWrite[] = [];
    for (const [conn, agent, e, bytes] of batch) {
      try {
        this.dispatch(conn, agent, e, bytes, writes);
      } catch (error) {
        this.refuse(conn, e, error);
      }
    }
    if (writes.length === 0) return;
    try {
      this.log.write(writes, this.settle);
    } catch (error) {
      // A bug in the store must cost these requests, not the relay.
      this.report(`storage failed, ${writes.length} requests refused: ${(error as Error).message}`);
      for (const w of writes) (w.done as (r: WriteFailure) => void)({ kind: "unavailable", reason: "the relay could not store this; retry" });
    }
  }

  /** How the log hands back a group of finished writes: their replies and fan-out go out together. */
  private readonly settle = (run: () => void): void => {
    const answered = new Set<RelayConnection>();
    this.settling = answered;
    this.gate.batch(
      () => {
        try {
          run();
        } finally {
          this.batchAcks.clear();
          this.settling = undefined;
        }
      },
      (conn) => answered.has(conn),
      () => answered.forEach((conn) => conn.flushWrites()),
    );
  };

  /** Answers a request that failed: a refusal, bad input, an unavailable store, or our bug. */
  private refuse(conn: RelayConnection, e: Envelope, error: unknown): void {
    if (error instanceof Refusal) return conn.error(e.id, error.code, error.message);
    if (error instanceof WireError) return conn.error(e.id, "bad_request", error.message);
    if (error instanceof StoreUnavailable) return conn.error(e.id, "internal", `${error.message.replace(/; retry$/, "")}; retry`);
    // A bug must cost one request, not the relay: report it without the request's contents.
    this.report(`internal error handling ${e.type}: ${(error as Error).message}`);
    conn.error(e.id, "internal", "the relay failed to handle this request");
  }

  /** A write the log did not carry out. */
  private failed(conn: RelayConnection, e: Envelope, failure: WriteFailure): void {
    if (failure.kind === "unavailable") return conn.error(e.id, "internal", failure.reason);
    if (failure.kind === "too_large") return conn.error(e.id, "too_large", failure.reason);
    this.refuse(conn, e, failure.error);
  }

  /** Runs a request's asynchronous part and answers its failure. */
  private later(conn: RelayConnection, e: Envelope, work: Promise<void>): void {
    work.catch((error: unknown) => {
      if (this.connections.has(conn)) this.refuse(conn, e, error);
    });
  }

  /** Drops a closed connection from every subscription. */
  forget(conn: RelayConnection): void {
    for (const sub of this.followed.get(conn)?.values() ?? []) this.dropSubscription(sub);
    this.followed.delete(conn);
    const inbox = this.inboxOf.get(conn);
    const agent = conn.agent;
    if (inbox !== undefined && agent !== undefined) {
      inbox.feed.close();
      this.inboxReaders.get(agent)?.delete(inbox);
      if (this.inboxReaders.get(agent)?.size === 0) this.inboxReaders.delete(agent);
    }
    this.inboxOf.delete(conn);
  }

  private authenticate(conn: RelayConnection, e: Envelope): void {
    if (e.type !== "Auth" || this.authenticating.has(conn)) {
      conn.error(e.id, "not_authenticated", "send Auth first, and nothing else until AuthOk");
      return conn.close(1008, "not authenticated");
    }
    const refuse = (why: string) => {
      this.metrics.authFailures++;
      conn.error(e.id, "auth_failed", why);
      conn.close(1008, "auth failed");
    };
    const binding = conn.binding;
    if (binding === undefined || !linkAuthValid(binding, e.agent, e.key, e.signature)) {
      return refuse("the link was not signed with the identity key it names");
    }
    const principal = hex(e.key);
    const secret = this.config.authSecret;
    let token: TokenClaims | undefined;
    if (secret !== undefined) {
      const check = checkToken(secret, e.token, e.agent, e.key);
      if (!check.ok) {
        const why = {
          malformed: "the token is malformed",
          bad_signature: "the token's signature is wrong",
          expired: "the token has expired",
          wrong_agent: "the token was issued to another agent",
          wrong_key: "the token was issued for another identity key",
        }[check.reason];
        return refuse(`${why}; ask the relay operator for a new token (skytale-mcp token)`);
      }
      if (this.revocations.revokes(check.claims)) return refuse("the token was revoked; ask the relay operator for a new token (skytale-mcp token)");
      token = check.claims;
    }
    // Without a token, a name belongs to the first key that claims it; a token the operator signed binds it.
    this.authenticating.add(conn);
    this.log.claimName(e.agent, principal, secret !== undefined).then(
      (bound) => {
        this.authenticating.delete(conn);
        if (!this.connections.has(conn)) return;
        if (!bound) {
          return refuse(`the name '${e.agent}' belongs to another identity key on this relay; choose another name, or use the data dir that holds that key`);
        }
        conn.authenticated(principal, e.agent, token);
        conn.send({ type: "AuthOk", id: e.id, agent: e.agent, key: e.key });
      },
      (error: unknown) => {
        this.authenticating.delete(conn);
        if (!this.connections.has(conn)) return;
        this.refuse(conn, e, error);
        conn.close(1011, "store unavailable");
      },
    );
  }

  private dispatch(conn: RelayConnection, agent: string, e: Envelope, bytes: Uint8Array, writes: ChannelWrite[]): void {
    switch (e.type) {
      case "Msg":
        return this.message(conn, agent, e, bytes, writes);
      case "GroupProposal":
      case "GroupCommit":
        return this.handshake(conn, agent, e, writes);
      case "Subscribe":
        return this.subscribe(conn, e);
      case "Unsubscribe":
        return this.unsubscribe(conn, e);
      case "InboxSubscribe":
        return this.subscribeInbox(conn, agent, e.id, storable(e.fromSeq, "fromSeq"));
      case "InboxAck": {
        const upTo = storable(e.upToSeq, "upToSeq");
        return this.later(conn, e, this.log.ackInbox(agent, upTo).then(() => conn.send({ type: "Ack", id: e.id, seq: upTo })));
      }
      case "KeyPackagePublish":
        return this.publishKeyPackage(conn, agent, e);
      case "KeyPackageFetch": {
        const owner = hex(e.key);
        if (owner !== agent) this.charge(agent, { key_packages_taken: 1 });
        return this.later(conn, e, this.log.takeKeyPackage(owner).then((keyPackage) => conn.send({ type: "KeyPackageReply", id: e.id, key: e.key, keyPackage })));
      }
      case "NameLookup":
        return this.later(
          conn,
          e,
          this.log.nameOwner(e.agent).then((owner) => conn.send({ type: "NameReply", id: e.id, agent: e.agent, key: owner === undefined ? undefined : keyOf(owner) })),
        );
      case "ChannelOpen":
        return this.openChannel(conn, agent, e, writes);
      case "Ping":
        return conn.send({ type: "Pong", id: e.id });
      default:
        if (isRelayThrough(e)) return this.relayThrough(conn, agent, e, writes);
        throw new Refusal("bad_request", `${e.type} is not a request a client sends`);
    }
  }

  /** Charges a request to its identity's quotas, or refuses it (nothing charged) when one would be passed. */
  private charge(agent: string, amounts: Partial<Record<QuotaName, number>>): void {
    const refusal = this.quotas.charge(agent, amounts);
    if (refusal !== undefined) throw new Refusal("quota_exceeded", describeRefusal(refusal));
  }

  private routing(body: Uint8Array, expected: MlsRouting["contentType"]): MlsRouting {
    const routing = readMlsRouting(body);
    if (routing.contentType !== expected) throw new Refusal("bad_request", `this MLS message is a ${routing.contentType}, not a ${expected}`);
    return routing;
  }

  /**
   * Calls a write's answer with the link marked as answered in this settle (its frames go before
   * the fan-out to others); a bug in it costs that request only.
   */
  private answer<R>(conn: RelayConnection, e: Envelope, fn: (result: R) => void): (result: R | WriteFailure) => void {
    return (result) => {
      this.settling?.add(conn);
      try {
        if (isFailure(result)) this.failed(conn, e, result);
        else fn(result as R);
      } catch (error) {
        this.refuse(conn, e, error);
      }
    };
  }

  /** `bytes`: the request as it arrived; the delivery differs only in its id, so they become it. */
  private message(conn: RelayConnection, agent: string, e: EnvelopeOf<"Msg">, bytes: Uint8Array, writes: ChannelWrite[]): void {
    const { groupId, epoch } = this.routing(e.body, "application");
    this.charge(agent, { archive_bytes: e.body.length });
    writes.push({
      op: "message",
      channel: groupId,
      body: e.body,
      from: agent,
      epoch,
      delivery: bytes,
      done: this.answer(conn, e, (result) => {
        if (result.kind === "unknown") throw unknownChannel();
        if (result.kind === "stale") {
          throw new Refusal("stale_epoch", `the channel is at epoch ${result.epoch}; no member can read epoch ${epoch} any more: encrypt it again`);
        }
        if (result.kind === "ahead") throw new Refusal("bad_request", `the channel is at epoch ${result.epoch}, not ${epoch}`);
        this.ack(conn, e.id, result.seq);
        if (!result.duplicate) this.fanOut(groupId, { seq: result.seq, kind: "Msg", envelope: bytes });
      }),
    });
  }

  /**
   * Acknowledges a Msg while its write is settled. The acks of one link share a frame, sent at the
   * place of the first of them in the link's order, once the group is released like every reply:
   * one seal at the relay and one open at the client instead of one per message. A list holds at
   * most MAX_ACKS; an id it holds already (a client reusing request ids) or 0 gets a frame of its
   * own, since Acks refuses both.
   */
  private ack(conn: RelayConnection, id: bigint, seq: bigint): void {
    if (id === 0n) return conn.send({ type: "Ack", id, seq });
    const list = this.batchAcks.get(conn);
    if (list !== undefined && list.length < MAX_ACKS && !list.some((a) => a.id === id)) {
      list.push({ id, seq });
      return;
    }
    const fresh = [{ id, seq }];
    this.batchAcks.set(conn, fresh);
    conn.sendAcks(fresh);
  }

  private handshake(conn: RelayConnection, agent: string, e: EnvelopeOf<"GroupProposal" | "GroupCommit">, writes: ChannelWrite[]): void {
    const isCommit = e.type === "GroupCommit";
    const body = isCommit ? e.commit : e.body;
    const { groupId, epoch } = this.routing(body, isCommit ? "commit" : "proposal");
    storable(epoch + 1n, "epoch");
    const welcome = isCommit ? e.welcome : undefined;
    const proof = isCommit ? e.proof : undefined;
    const delivery = encodeEnvelope(isCommit ? { type: "GroupCommit", id: 0n, commit: body, welcome: undefined } : { type: "GroupProposal", id: 0n, body });
    // A Welcome is stored once per recipient: that is what it costs.
    const recipients = welcome === undefined ? 0 : new Set(welcome.recipients.map(hex)).size;
    this.charge(agent, { archive_bytes: body.length + recipients * (welcome?.welcome.length ?? 0), welcome_recipients: recipients });
    writes.push({
      op: "handshake",
      kind: e.type,
      channel: groupId,
      body,
      from: agent,
      epoch,
      delivery,
      welcome: welcome && {
        recipients: welcome.recipients.map(hex),
        envelope: (commitSeq) => encodeEnvelope({ type: "GroupWelcome", id: 0n, channel: groupId, commitSeq, welcome: welcome.welcome }),
        maxInboxItems: this.config.limits.maxInboxItems,
      },
      authorization: proof && { verify: (key) => commitProofValid(groupId, epoch, body, proof, key), nextKey: proof.nextKey },
      done: this.answer(conn, e, (result) => {
        switch (result.kind) {
          case "unknown":
            throw unknownChannel();
          case "inbox_full":
            throw new Refusal("limit_exceeded", `the inbox of ${shortAgent(result.recipient)} is full`);
          case "unauthorized":
            this.metrics.nacks++;
            throw new Refusal("forbidden", "this commit is not signed with the channel's current epoch key: the sender is not in the current epoch");
          case "stale":
            this.metrics.nacks++;
            return conn.send({ type: "GroupNack", id: e.id, channel: groupId, epoch: result.epoch, winningSeq: result.winningSeq });
          case "accepted":
            this.metrics.acks++;
            conn.send({ type: "GroupAck", id: e.id, channel: groupId, epoch: result.epoch, seq: result.seq });
            if (!result.duplicate) this.fanOut(groupId, { seq: result.seq, kind: e.type, envelope: delivery });
        }
      }),
    });
  }

  private relayThrough(conn: RelayConnection, agent: string, e: EnvelopeOf<RelayThroughType>, writes: ChannelWrite[]): void {
    const target = e.target;
    const envelope = encodeEnvelope({ ...e, id: 0n, from: keyOf(agent) });
    if (target.kind === "channel") {
      this.charge(agent, { archive_bytes: e.payload.length });
      writes.push({
        op: "through",
        kind: e.type,
        channel: target.channel,
        body: e.payload,
        from: agent,
        delivery: envelope,
        done: this.answer(conn, e, (result) => {
          if (result.kind === "unknown") throw unknownChannel();
          conn.send({ type: "Ack", id: e.id, seq: result.seq });
          if (!result.duplicate) this.fanOut(target.channel, { seq: result.seq, kind: e.type, envelope });
        }),
      });
      return;
    }
    // The inbox's readers hear of the item from the log, wherever they are connected.
    const recipient = hex(target.key);
    this.charge(agent, { inbox_items: 1, inbox_bytes: envelope.length });
    // One sender's items fill only its share of an inbox, and all senders' leave a reserve for Welcomes.
    const { maxInboxItems, inboxWelcomeReserve, maxInboxPerSender } = this.config.limits;
    const bound = { maxItems: Math.max(1, maxInboxItems - inboxWelcomeReserve), sender: { principal: agent, maxItems: maxInboxPerSender } };
    const stored = this.log.appendInbox(recipient, envelope, bound).then((result) => {
      if (result.kind === "full") throw new Refusal("limit_exceeded", `the inbox of ${shortAgent(recipient)} is full`);
      if (result.kind === "sender_full") throw new Refusal("limit_exceeded", `the inbox of ${shortAgent(recipient)} holds ${maxInboxPerSender} items from this agent already; send more once it has read them`);
      conn.send({ type: "Ack", id: e.id, seq: result.seq });
    });
    this.later(conn, e, stored);
  }

  /** The creator opens its channel: the id must be made from its key, the opening signed by it. */
  private openChannel(conn: RelayConnection, agent: string, e: EnvelopeOf<"ChannelOpen">, writes: ChannelWrite[]): void {
    if (!channelOpenValid(e.channel, e.nonce, e.commitKey, keyOf(agent), e.signature)) {
      throw new Refusal("forbidden", "this channel id is not made from the sender's identity key, or the opening is not signed by it");
    }
    this.charge(agent, { channels_opened: 1 });
    writes.push({
      op: "open",
      channel: e.channel,
      from: agent,
      commitKey: e.commitKey,
      done: this.answer(conn, e, (result) => {
        if (result === "taken") throw new Refusal("forbidden", "this channel is open already, opened by another agent");
        conn.send({ type: "Ack", id: e.id, seq: 0n });
      }),
    });
  }

  private publishKeyPackage(conn: RelayConnection, agent: string, e: EnvelopeOf<"KeyPackagePublish">): void {
    if (e.keyPackage.length === 0 || e.keyPackage.length > 16384) throw new Refusal("bad_request", "a key package is 1-16384 bytes");
    const stored = this.log.publishKeyPackage(agent, e.keyPackage, e.lastResort).then((result) => {
      if (result.kind === "full") throw new Refusal("limit_exceeded", `at most ${MAX_KEY_PACKAGES} key packages per agent`);
      // The Ack tells the owner how many single-use packages it has here, to top them up.
      conn.send({ type: "Ack", id: e.id, seq: BigInt(result.held) });
    });
    this.later(conn, e, stored);
  }

  /**
   * Acknowledges with the channel's last seq, then replays from `fromSeq` and goes on live: the
   * link's OrderedFeed sends every frame once, in order, wherever it comes from. Sent again for a
   * channel already followed, it replays from `fromSeq` again.
   */
  private subscribe(conn: RelayConnection, e: EnvelopeOf<"Subscribe">): void {
    const key = hex(e.channel);
    const fromSeq = storable(e.fromSeq, "fromSeq");
    let subs = this.followed.get(conn);
    let sub = subs?.get(key);
    if (sub === undefined && conn.subscriptions.size >= this.config.limits.maxChannelsPerConnection) {
      throw new Refusal("limit_exceeded", `at most ${this.config.limits.maxChannelsPerConnection} channels per connection`);
    }
    const isNew = sub === undefined;
    if (sub === undefined) {
      const channel = e.channel.slice();
      const feed: OrderedFeed<ChannelFrame> = new OrderedFeed<ChannelFrame>({
        read: (from, maxBytes) => this.log.read(channel, from, REPLAY_BATCH, maxBytes),
        send: (frame) => conn.sendEncoded(frame.kind, frame.envelope),
        size: (frame) => frame.envelope.length,
        turn: (batch) => this.replays.turn(conn, conn.replayTurn(), batch),
        open: () => this.connections.has(conn),
        failed: (error) => this.report(`replay of a channel failed, retrying: ${(error as Error).message}`),
      });
      sub = { conn, channel, feed };
      conn.subscriptions.add(key);
      if (subs === undefined) this.followed.set(conn, (subs = new Map()));
      subs.set(key, sub);
      let set = this.subscribers.get(key);
      if (set === undefined) this.subscribers.set(key, (set = new Set()));
      // Registered before the store is asked, so that what arrives meanwhile extends the replay.
      set.add(sub);
    }
    const current = sub;
    const last = isNew ? this.log.watch(current.channel) : this.log.lastSeq(current.channel);
    const started = last.then(
      (lastSeq) => {
        if (this.followed.get(conn)?.get(key) !== current) return;
        conn.send({ type: "Ack", id: e.id, seq: lastSeq });
        current.feed.start(fromSeq, lastSeq);
      },
      (error: unknown) => {
        if (isNew) this.dropSubscription(current);
        throw error;
      },
    );
    this.later(conn, e, started);
  }

  private unsubscribe(conn: RelayConnection, e: EnvelopeOf<"Unsubscribe">): void {
    const sub = this.followed.get(conn)?.get(hex(e.channel));
    if (sub !== undefined) this.dropSubscription(sub);
    conn.send({ type: "Ack", id: e.id, seq: 0n });
  }

  private dropSubscription(sub: ChannelSubscription): void {
    const key = hex(sub.channel);
    if (this.followed.get(sub.conn)?.get(key) !== sub) return;
    sub.feed.close();
    this.followed.get(sub.conn)?.delete(key);
    sub.conn.subscriptions.delete(key);
    const set = this.subscribers.get(key);
    set?.delete(sub);
    if (set?.size === 0) this.subscribers.delete(key);
    this.log.unwatch(sub.channel);
  }

  private subscribeInbox(conn: RelayConnection, agent: string, id: bigint, fromSeq: bigint): void {
    let sub = this.inboxOf.get(conn);
    if (sub === undefined) {
      const feed = new OrderedFeed<InboxItem>({
        read: (from, maxBytes) => this.log.readInbox(agent, from, this.config.limits.maxInboxItems, maxBytes),
        send: (item) => {
          const bytes = item.envelope.slice();
          conn.sendEncoded("inbox", setEnvelopeId(bytes, item.seq));
        },
        size: (item) => item.envelope.length,
        turn: (batch) => this.replays.turn(conn, conn.replayTurn(), batch),
        open: () => this.connections.has(conn),
        failed: (error) => this.report(`replay of an inbox failed, retrying: ${(error as Error).message}`),
      });
      sub = { conn, feed };
      this.inboxOf.set(conn, sub);
      let set = this.inboxReaders.get(agent);
      if (set === undefined) this.inboxReaders.set(agent, (set = new Set()));
      set.add(sub);
      conn.inboxSubscribed = true;
    }
    const current = sub;
    const started = this.log.lastInboxSeq(agent).then((lastSeq) => {
      if (this.inboxOf.get(conn) !== current) return;
      conn.send({ type: "Ack", id, seq: lastSeq });
      current.feed.start(fromSeq, lastSeq);
    });
    this.later(conn, { type: "InboxSubscribe", id, fromSeq }, started);
  }

  /** A new frame of a channel, from this relay's writes or from the log: each subscription sends it when it is next. */
  private fanOut(channel: Uint8Array, frame: ChannelFrame): void {
    for (const sub of this.subscribers.get(hex(channel)) ?? []) {
      if (this.connections.has(sub.conn)) sub.feed.offer(frame);
    }
  }
}

function unknownChannel(): Refusal {
  return new Refusal("unknown_channel", "no channel with this id is open on this relay: its creator opens it first");
}

function isFailure(result: unknown): result is WriteFailure {
  if (typeof result !== "object" || result === null) return false;
  const kind = (result as { kind?: unknown }).kind;
  return kind === "unavailable" || kind === "failed" || kind === "too_large";
}
