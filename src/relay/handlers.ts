import { encodeEnvelope, isRelayThrough, MAX_ACKS, setEnvelopeId, type AckEntry, type Envelope, type EnvelopeOf, type RelayThroughType } from "../wire/envelope.js";
import { WireError } from "../wire/errors.js";
import { readMlsRouting, type MlsRouting } from "../wire/mlsHeader.js";
import { channelOpenValid } from "../wire/channelOpen.js";
import { commitProofValid } from "../wire/commitProof.js";
import { linkAuthValid } from "../wire/linkAuth.js";
import type { ChannelFrame, ChannelLog } from "./channelLog.js";
import type { RelayConfig } from "./config.js";
import type { RelayConnection } from "./connection.js";
import type { RelayMetrics } from "./metrics.js";
import type { SendGate } from "./sendGate.js";
import type { Revocations } from "./revocations.js";
import { checkToken, type TokenClaims } from "./token.js";

/** Archive frames read per query while replaying a subscription. */
const REPLAY_BATCH = 512;
/** Key packages one agent may keep in the directory. */
const MAX_KEY_PACKAGES = 100;

/** A view, not a copy: the fan-out computes this once per message. */
const hex = (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
/** A principal (hex) as the identity key it names. */
const keyOf = (principal: string) => new Uint8Array(Buffer.from(principal, "hex"));

/** Sequence numbers and epochs are stored as SQLite integers (signed 64-bit). */
const MAX_STORED_INTEGER = 2n ** 63n - 1n;

function storable(n: bigint, what: string): bigint {
  if (n > MAX_STORED_INTEGER) throw new Refusal("bad_request", `${what} is out of range`);
  return n;
}

/** A request refused with an Error envelope; the link stays up. */
class Refusal extends Error {
  constructor(
    readonly code: "bad_request" | "limit_exceeded" | "too_large" | "forbidden" | "stale_epoch" | "unknown_channel",
    message: string,
  ) {
    super(message);
  }
}

/**
 * What the relay does with each envelope: authentication (of identity keys; names are labels
 * bound to keys by the name registry), channel openings, the sequencer (through ChannelLog's
 * compare-and-set), fan-out to subscribers, inboxes and the key-package directory, all keyed by
 * principal (the identity key in hex). It never reads an MLS message beyond its cleartext header.
 */
export class RelayHandlers {
  private readonly subscribers = new Map<string, Set<RelayConnection>>();
  private readonly inboxReaders = new Map<string, Set<RelayConnection>>();
  private queue: [RelayConnection, string, Envelope, Uint8Array][] = [];
  /** The Msg acks of the batch being stored, per link: each list goes out as one frame (see ack()). */
  private readonly batchAcks = new Map<RelayConnection, AckEntry[]>();

  constructor(
    private readonly log: ChannelLog,
    private readonly config: RelayConfig,
    private readonly metrics: RelayMetrics,
    private readonly connections: ReadonlySet<RelayConnection>,
    private readonly report: (line: string) => void,
    private readonly revocations: Revocations,
    private readonly gate: SendGate<RelayConnection>,
  ) {}

  /**
   * Requests are queued and handled together at the end of this turn of the event loop, as one
   * storage transaction (group commit); replies wait in the SendGate until it is committed. Then
   * the links that made requests get their frames first, in order, and those are on their way
   * before the fan-out to the other links is sealed (once per subscriber, the bulk of the work):
   * a publisher hears its acks without waiting for every subscriber's copy.
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
    try {
      const requesters = new Set(batch.map(([conn]) => conn));
      this.gate.batch(
        () => {
          try {
            this.log.atomically(() => batch.forEach(([conn, agent, e, bytes]) => this.handleOne(conn, agent, e, bytes)));
          } finally {
            this.batchAcks.clear();
          }
        },
        (conn) => requesters.has(conn),
        () => requesters.forEach((conn) => conn.flushWrites()),
      );
    } catch (error) {
      this.report(`storage failed, ${batch.length} requests refused: ${(error as Error).message}`);
      for (const [conn, , e] of batch) conn.error(e.id, "internal", "the relay could not store this; retry");
    }
  }

  private handleOne(conn: RelayConnection, agent: string, e: Envelope, bytes: Uint8Array): void {
    try {
      this.dispatch(conn, agent, e, bytes);
    } catch (error) {
      if (error instanceof Refusal) return conn.error(e.id, error.code, error.message);
      if (error instanceof WireError) return conn.error(e.id, "bad_request", error.message);
      // A failed write may have left this batch's transaction half done: fail the whole batch.
      if (isStorageFailure(error)) throw error;
      // A bug must cost one request, not the relay: report it without the request's contents.
      this.report(`internal error handling ${e.type}: ${(error as Error).message}`);
      conn.error(e.id, "internal", "the relay failed to handle this request");
    }
  }

  /** Drops a closed connection from every subscription. */
  forget(conn: RelayConnection): void {
    for (const key of conn.subscriptions) this.subscribers.get(key)?.delete(conn);
    const agent = conn.agent;
    if (agent !== undefined) this.inboxReaders.get(agent)?.delete(conn);
  }

  private authenticate(conn: RelayConnection, e: Envelope): void {
    if (e.type !== "Auth") {
      conn.error(e.id, "not_authenticated", "send Auth first");
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
    if (!this.log.claimName(e.agent, principal, secret !== undefined)) {
      return refuse(`the name '${e.agent}' belongs to another identity key on this relay; choose another name, or use the data dir that holds that key`);
    }
    conn.authenticated(principal, e.agent, token);
    conn.send({ type: "AuthOk", id: e.id, agent: e.agent, key: e.key });
  }

  private dispatch(conn: RelayConnection, agent: string, e: Envelope, bytes: Uint8Array): void {
    switch (e.type) {
      case "Msg":
        return this.message(conn, agent, e, bytes);
      case "GroupProposal":
      case "GroupCommit":
        return this.handshake(conn, agent, e);
      case "Subscribe":
        return this.subscribe(conn, e);
      case "Unsubscribe":
        this.subscribers.get(hex(e.channel))?.delete(conn);
        conn.subscriptions.delete(hex(e.channel));
        return conn.send({ type: "Ack", id: e.id, seq: 0n });
      case "InboxSubscribe":
        return this.subscribeInbox(conn, agent, e.id, storable(e.fromSeq, "fromSeq"));
      case "InboxAck":
        this.log.ackInbox(agent, storable(e.upToSeq, "upToSeq"));
        return conn.send({ type: "Ack", id: e.id, seq: e.upToSeq });
      case "KeyPackagePublish":
        return this.publishKeyPackage(conn, agent, e);
      case "KeyPackageFetch":
        return conn.send({ type: "KeyPackageReply", id: e.id, key: e.key, keyPackage: this.log.takeKeyPackage(hex(e.key)) });
      case "NameLookup": {
        const owner = this.log.nameOwner(e.agent);
        return conn.send({ type: "NameReply", id: e.id, agent: e.agent, key: owner === undefined ? undefined : keyOf(owner) });
      }
      case "ChannelOpen":
        return this.openChannel(conn, agent, e);
      case "Ping":
        return conn.send({ type: "Pong", id: e.id });
      default:
        if (isRelayThrough(e)) return this.relayThrough(conn, agent, e);
        throw new Refusal("bad_request", `${e.type} is not a request a client sends`);
    }
  }

  private routing(body: Uint8Array, expected: MlsRouting["contentType"]): MlsRouting {
    const routing = readMlsRouting(body);
    if (routing.contentType !== expected) throw new Refusal("bad_request", `this MLS message is a ${routing.contentType}, not a ${expected}`);
    return routing;
  }

  /** `bytes`: the request as it arrived; the delivery differs only in its id, so they become it. */
  private message(conn: RelayConnection, agent: string, e: EnvelopeOf<"Msg">, bytes: Uint8Array): void {
    const { groupId, epoch } = this.routing(e.body, "application");
    const result = this.log.appendMessage(groupId, e.body, agent, epoch);
    if (result.kind === "unknown") throw unknownChannel();
    if (result.kind === "stale") {
      throw new Refusal("stale_epoch", `the channel is at epoch ${result.epoch}; no member can read epoch ${epoch} any more: encrypt it again`);
    }
    if (result.kind === "ahead") throw new Refusal("bad_request", `the channel is at epoch ${result.epoch}, not ${epoch}`);
    const { seq, duplicate } = result;
    this.ack(conn, e.id, seq);
    if (!duplicate) this.fanOut(groupId, "Msg", setEnvelopeId(bytes, seq));
  }

  /**
   * Acknowledges a request of the batch being stored (only called inside flush's store step).
   * The acks of one link share a frame, sent at the place of the first of them in the link's
   * order, once the batch is committed like every reply: one seal at the relay and one open at the
   * client instead of one per message. A list holds at most MAX_ACKS; an id it holds already (a
   * client reusing request ids) or 0 gets a frame of its own, since Acks refuses both.
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

  private handshake(conn: RelayConnection, agent: string, e: EnvelopeOf<"GroupProposal" | "GroupCommit">): void {
    const isCommit = e.type === "GroupCommit";
    const body = isCommit ? e.commit : e.body;
    const { groupId, epoch } = this.routing(body, isCommit ? "commit" : "proposal");
    storable(epoch + 1n, "epoch");
    const welcome = isCommit ? e.welcome : undefined;
    const proof = isCommit ? e.proof : undefined;
    const recipients = welcome?.recipients.map(hex);
    if (recipients !== undefined) {
      const full = recipients.find((r) => this.log.inboxSize(r) >= this.config.limits.maxInboxItems);
      if (full !== undefined) throw new Refusal("limit_exceeded", `the inbox of agent ${full.slice(0, 16)}… is full`);
    }
    const result = this.log.appendHandshake(
      groupId,
      e.type,
      body,
      agent,
      epoch,
      welcome && recipients && {
        recipients,
        envelope: (commitSeq) => encodeEnvelope({ type: "GroupWelcome", id: 0n, channel: groupId, commitSeq, welcome: welcome.welcome }),
      },
      proof && { verify: (key) => commitProofValid(groupId, epoch, body, proof, key), nextKey: proof.nextKey },
    );
    if (result.kind === "unknown") throw unknownChannel();
    if (result.kind === "unauthorized") {
      this.metrics.nacks++;
      throw new Refusal("forbidden", "this commit is not signed with the channel's current epoch key: the sender is not in the current epoch");
    }
    if (result.kind === "stale") {
      this.metrics.nacks++;
      return conn.send({ type: "GroupNack", id: e.id, channel: groupId, epoch: result.epoch, winningSeq: result.winningSeq });
    }
    this.metrics.acks++;
    conn.send({ type: "GroupAck", id: e.id, channel: groupId, epoch: result.epoch, seq: result.seq });
    if (result.duplicate) return;
    const delivered: Envelope = isCommit
      ? { type: "GroupCommit", id: result.seq, commit: body, welcome: undefined }
      : { type: "GroupProposal", id: result.seq, body };
    this.fanOut(groupId, e.type, encodeEnvelope(delivered));
    for (const recipient of new Set(recipients ?? [])) this.deliverInbox(recipient);
  }

  private relayThrough(conn: RelayConnection, agent: string, e: EnvelopeOf<RelayThroughType>): void {
    const target = e.target;
    const from = keyOf(agent);
    if (target.kind === "channel") {
      const result = this.log.append(target.channel, e.type, e.payload, agent);
      if (result.kind === "unknown") throw unknownChannel();
      conn.send({ type: "Ack", id: e.id, seq: result.seq });
      if (!result.duplicate) this.fanOut(target.channel, e.type, encodeEnvelope({ ...e, id: result.seq, from }));
      return;
    }
    const recipient = hex(target.key);
    if (this.log.inboxSize(recipient) >= this.config.limits.maxInboxItems) {
      throw new Refusal("limit_exceeded", `the inbox of agent ${recipient.slice(0, 16)}… is full`);
    }
    const seq = this.log.appendInbox(recipient, encodeEnvelope({ ...e, id: 0n, from }));
    conn.send({ type: "Ack", id: e.id, seq });
    this.deliverInbox(recipient);
  }

  /** The creator opens its channel: the id must be made from its key, the opening signed by it. */
  private openChannel(conn: RelayConnection, agent: string, e: EnvelopeOf<"ChannelOpen">): void {
    if (!channelOpenValid(e.channel, e.nonce, e.commitKey, keyOf(agent), e.signature)) {
      throw new Refusal("forbidden", "this channel id is not made from the sender's identity key, or the opening is not signed by it");
    }
    if (this.log.openChannel(e.channel, agent, e.commitKey) === "taken") throw new Refusal("forbidden", "this channel is open already, opened by another agent");
    conn.send({ type: "Ack", id: e.id, seq: 0n });
  }

  private publishKeyPackage(conn: RelayConnection, agent: string, e: EnvelopeOf<"KeyPackagePublish">): void {
    if (e.keyPackage.length === 0 || e.keyPackage.length > 16384) throw new Refusal("bad_request", "a key package is 1-16384 bytes");
    if (!e.lastResort && this.log.keyPackageCount(agent) >= MAX_KEY_PACKAGES) {
      throw new Refusal("limit_exceeded", `at most ${MAX_KEY_PACKAGES} key packages per agent`);
    }
    this.log.publishKeyPackage(agent, e.keyPackage, e.lastResort);
    conn.send({ type: "Ack", id: e.id, seq: 0n });
  }

  private subscribe(conn: RelayConnection, e: EnvelopeOf<"Subscribe">): void {
    const key = hex(e.channel);
    storable(e.fromSeq, "fromSeq");
    if (!conn.subscriptions.has(key) && conn.subscriptions.size >= this.config.limits.maxChannelsPerConnection) {
      throw new Refusal("limit_exceeded", `at most ${this.config.limits.maxChannelsPerConnection} channels per connection`);
    }
    conn.send({ type: "Ack", id: e.id, seq: this.log.lastSeq(e.channel) });
    // Replay and registration happen in one turn of the event loop, so no live frame can slip
    // between the last replayed one and the first live one, and none comes twice.
    for (let from = e.fromSeq > 0n ? e.fromSeq : 1n; ; ) {
      const batch = this.log.read(e.channel, from, REPLAY_BATCH);
      for (const frame of batch) conn.sendEncoded(frame.kind, encodeEnvelope(delivered(e.channel, frame)));
      if (batch.length < REPLAY_BATCH) break;
      from = (batch.at(-1) as ChannelFrame).seq + 1n;
    }
    conn.subscriptions.add(key);
    let set = this.subscribers.get(key);
    if (set === undefined) this.subscribers.set(key, (set = new Set()));
    set.add(conn);
  }

  private subscribeInbox(conn: RelayConnection, agent: string, id: bigint, fromSeq: bigint): void {
    conn.send({ type: "Ack", id, seq: this.log.lastInboxSeq(agent) });
    this.sendInbox(conn, agent, fromSeq > 0n ? fromSeq : 1n);
    conn.inboxSubscribed = true;
    let set = this.inboxReaders.get(agent);
    if (set === undefined) this.inboxReaders.set(agent, (set = new Set()));
    set.add(conn);
  }

  private sendInbox(conn: RelayConnection, agent: string, fromSeq: bigint): void {
    for (const item of this.log.readInbox(agent, fromSeq, this.config.limits.maxInboxItems)) {
      const bytes = item.envelope.slice();
      new DataView(bytes.buffer).setBigUint64(2, item.seq); // the envelope id field
      conn.sendEncoded("inbox", bytes);
    }
  }

  /** Pushes an agent's newest inbox item to its online readers. */
  private deliverInbox(agent: string): void {
    const readers = this.inboxReaders.get(agent);
    if (readers === undefined || readers.size === 0) return;
    const last = this.log.lastInboxSeq(agent);
    for (const conn of readers) this.sendInbox(conn, agent, last);
  }

  private fanOut(channel: Uint8Array, type: string, bytes: Uint8Array): void {
    for (const conn of this.subscribers.get(hex(channel)) ?? []) {
      if (this.connections.has(conn)) conn.sendEncoded(type, bytes);
    }
  }
}

/** The envelope a subscriber receives for an archived frame. */
function delivered(channel: Uint8Array, frame: ChannelFrame): Envelope {
  switch (frame.kind) {
    case "Msg":
    case "GroupProposal":
      return { type: frame.kind, id: frame.seq, body: frame.body };
    case "GroupCommit":
      return { type: "GroupCommit", id: frame.seq, commit: frame.body, welcome: undefined };
    default:
      // Frames archived before senders were keys name an agent instead: they go out without a sender.
      return { type: frame.kind, id: frame.seq, target: { kind: "channel", channel }, from: /^[0-9a-f]{64}$/.test(frame.from) ? keyOf(frame.from) : new Uint8Array(0), payload: frame.body };
  }
}

function unknownChannel(): Refusal {
  return new Refusal("unknown_channel", "no channel with this id is open on this relay: its creator opens it first");
}

/** SQLite's own errors (a full disk, a read-only or damaged file), as opposed to our bugs. */
function isStorageFailure(error: unknown): boolean {
  return String((error as { code?: unknown } | undefined)?.code ?? "").startsWith("SQLITE_");
}
