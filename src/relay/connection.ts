import type { WebSocket } from "ws";
import { coverBudget, realTimers, type CoverConfig, type Timers } from "../wire/cover.js";
import { type AckEntry, type Envelope } from "../wire/envelope.js";
import { WireError } from "../wire/errors.js";
import { respondToHello } from "../wire/handshake.js";
import { LinkCodec } from "../wire/link.js";
import { MAX_AUTH_ENVELOPE_BYTES } from "../wire/linkAuth.js";
import { LinkPacer } from "../wire/linkPacer.js";
import type { StaticKeyPair } from "../wire/x25519.js";
import type { TokenClaims } from "./token.js";
import type { RelayLimits } from "./config.js";
import type { LinkSlots } from "./linkSlots.js";
import type { RelayMetrics } from "./metrics.js";
import type { ReplayTurn } from "./replayBudget.js";
import type { SendGate } from "./sendGate.js";
import { TokenBucket } from "./rateLimit.js";

/** Errors answered on the link with an Error envelope; codes are part of the protocol. */
export type RelayErrorCode =
  | "auth_failed"
  | "not_authenticated"
  | "bad_request"
  | "rate_limited"
  | "too_large"
  | "limit_exceeded"
  | "internal"
  | "forbidden"
  | "stale_epoch"
  /** A frame for a channel its creator has not opened (or one this relay never saw). */
  | "unknown_channel"
  /** One of the identity's quotas (quotas.ts) would be passed; the message names it, its limit and when it resets. */
  | "quota_exceeded";

/** Rate-limit breaches tolerated before a connection counts as abusive and is closed. */
const MAX_BREACHES = 100;
/**
 * Pending bytes past which a turn's pieces are sealed and written before the turn ends: a turn can
 * hand over far more than a slow reader may hold (a long replay), and the slow-reader check
 * (maxBufferedBytes) only sees what was written. Large enough that packing loses at most one
 * partly filled frame per chunk.
 */
const SEAL_CHUNK = 256 * 1024;
/** Frames of what is still queued that a paced link sends at once when it closes (an Error saying why). */
const CLOSE_DRAIN_FRAMES = 8;
/**
 * A replay batch has drained once no more than this waits for the link (above the socket's own
 * high-water mark, so that a link that is keeping up never waits).
 */
const REPLAY_LOW_WATER = 64 * 1024;
/** How often a replay waiting for its link to drain looks again. */
const DRAIN_POLL_MS = 20;
/** A paced link's replay batch: what its slots carry in this many seconds. */
const PACED_BATCH_SECONDS = 2;

type LinkState =
  | { phase: "handshake" }
  | { phase: "auth"; codec: LinkCodec; binding: Uint8Array }
  /** `agent`: the principal (the identity key, hex) everything at the relay is keyed by; `name` its label. */
  | { phase: "ready"; codec: LinkCodec; agent: string; name: string; token: TokenClaims | undefined }
  | { phase: "closed" };

/** The byte stream under a link's WebSocket, which can hold writes back and let them out together. */
export interface Corkable {
  cork(): void;
  uncork(): void;
}

export interface ConnectionContext {
  readonly relayKey: StaticKeyPair;
  readonly limits: RelayLimits;
  readonly cover: CoverConfig;
  readonly metrics: RelayMetrics;
  readonly gate: SendGate<RelayConnection>;
  /** Slots: the budget of links that have not authenticated, with their deadline, and those of authenticated ones. */
  readonly slots: LinkSlots;
  /** A monotonic clock, ms: rate limits, reassembly timeouts and cover slots. */
  readonly now: () => number;
  /** Whether the client announced that it paces: then every frame from it is a cell. */
  readonly peerSendsCells?: boolean;
  readonly timers?: Timers;
  readonly random?: () => number;
}

/**
 * One client link at the relay: handshake, then bucket-sized frames both ways, rate limits,
 * cover traffic, and the subscriptions this client holds. Envelopes that arrive once the link is
 * up are handed to `onEnvelope`; the connection itself knows nothing about channels. With cover
 * off, what one turn sends to the link is sealed and written at its end; with cover on, from the
 * handshake on, a LinkPacer sends one frame per slot of its own schedule and nothing else, so
 * replies and fan-out ride in the relay's slots, never right after the client's frame.
 */
export class RelayConnection {
  private state: LinkState = { phase: "handshake" };
  private readonly frames: TokenBucket;
  private readonly bytes: TokenBucket;
  private breaches = 0;
  private corked = false;
  /** Cover off: pieces handed over this turn, sealed together (sharing frames) when the turn ends, or sooner past SEAL_CHUNK. */
  private pending: Uint8Array[] = [];
  private pendingBytes = 0;
  /** Cover on: paces this link's frames from the handshake on. */
  private pacer: LinkPacer | undefined;
  /** Set while close() lets the last queued frames out, so that a slow reader's check does not close again from inside. */
  private draining = false;
  readonly subscriptions = new Set<string>();
  inboxSubscribed = false;

  constructor(
    private readonly ws: WebSocket,
    private readonly socket: Corkable,
    private readonly ctx: ConnectionContext,
    private readonly handlers: {
      /** `bytes`: the envelope as it arrived, encoded; the handler may reuse (and change) them. */
      onEnvelope(conn: RelayConnection, envelope: Envelope, bytes: Uint8Array): void;
      onClose(conn: RelayConnection): void;
    },
  ) {
    this.frames = new TokenBucket(ctx.limits.framesPerSecond, ctx.limits.framesPerSecond, ctx.now);
    this.bytes = new TokenBucket(ctx.limits.bytesPerSecond, ctx.limits.bytesPerSecond, ctx.now);
    ws.on("message", (data, isBinary) => this.onMessage(data, isBinary));
    ws.on("close", () => this.closed());
    ws.on("error", () => this.closed());
    ctx.slots.admit(this);
  }

  /** The authenticated agent's identity key (hex), once Auth succeeded. */
  get agent(): string | undefined {
    return this.state.phase === "ready" ? this.state.agent : undefined;
  }

  /** This link's binding (handshake.ts), which the client's Auth signs; undefined before the handshake. */
  get binding(): Uint8Array | undefined {
    return this.state.phase === "auth" ? this.state.binding : undefined;
  }

  /** A getter, so that checks after a call that may close the link are not narrowed away. */
  private get isClosed(): boolean {
    return this.state.phase === "closed";
  }

  get ready(): boolean {
    return this.state.phase === "ready";
  }

  /** The claims of the token the link authenticated with, kept so that revoking it drops the link. */
  get token(): TokenClaims | undefined {
    return this.state.phase === "ready" ? this.state.token : undefined;
  }

  /**
   * Marks the link authenticated as the holder of identity key `agent` (hex), called `name`, in a
   * slot of its own; with every such slot taken, closes it instead ("relay full").
   */
  authenticated(agent: string, name: string, token: TokenClaims | undefined): void {
    if (this.state.phase !== "auth") return;
    if (!this.ctx.slots.promote(this)) return this.close(1013, "relay full");
    this.state.codec.limitIncoming(undefined);
    this.state = { phase: "ready", codec: this.state.codec, agent, name, token };
  }

  send(envelope: Envelope): void {
    this.ctx.gate.pass(this, () => {
      if (this.state.phase !== "auth" && this.state.phase !== "ready") return;
      this.ctx.metrics.countOut(envelope.type);
      this.submit(this.state.codec.pieces(envelope));
    });
  }

  /** Sends an envelope encoded once for many receivers (fan-out). */
  sendEncoded(type: string, bytes: Uint8Array): void {
    this.ctx.gate.pass(this, () => {
      if (this.state.phase !== "ready") return;
      this.ctx.metrics.countOut(type);
      this.submit(this.state.codec.piecesOf(bytes));
    });
  }

  /**
   * Acknowledges requests in one frame, at this point in the link's order: an Ack for one, an Acks
   * for several. The list is read when the frame is sealed, so the caller may still add to it
   * until the SendGate releases the batch (see RelayHandlers.ack). The entries must pass Acks's
   * checks (distinct non-zero ids, at most MAX_ACKS).
   */
  sendAcks(acks: readonly AckEntry[]): void {
    this.ctx.gate.pass(this, () => {
      if (this.state.phase !== "ready") return;
      const [first] = acks;
      const envelopes: Envelope[] = acks.length === 1 && first !== undefined ? [{ type: "Ack", id: first.id, seq: first.seq }] : [{ type: "Acks", id: 0n, acks }];
      for (const envelope of envelopes) {
        if (this.isClosed) return;
        this.ctx.metrics.countOut(envelope.type);
        this.submit(this.state.codec.pieces(envelope));
      }
    });
  }

  /**
   * Sends an envelope's pieces: at the end of this turn with cover off, in the next slots with
   * cover on. The pacer's queue is bounded like a socket's buffer (maxBufferedBytes): a reader so
   * far behind that it fills it is dropped (it resumes from its cursor when it reconnects), never
   * left with a silent hole in its stream.
   */
  private submit(pieces: Uint8Array[]): void {
    if (this.pacer === undefined) return this.transmit(pieces);
    if (!this.pacer.submit(pieces)) this.close(1008, "too slow: reconnect and resume");
  }

  error(id: bigint, code: RelayErrorCode, message: string): void {
    this.send({ type: "Error", id, code, message });
  }

  /** Closes the socket; `code` 1008 for policy, 1002 for protocol errors, 1001 on shutdown. */
  close(code: number, reason: string): void {
    if (this.state.phase === "closed") return;
    // What this turn sent so far (an Error saying why, say) goes before the close.
    this.sealPending();
    if (this.draining) return;
    this.draining = true;
    this.pacer?.drain(CLOSE_DRAIN_FRAMES);
    this.draining = false;
    if (this.isClosed) return;
    this.ws.close(code, reason);
    this.closed();
  }

  private closed(): void {
    if (this.state.phase === "closed") return;
    this.state = { phase: "closed" };
    this.ctx.slots.release(this);
    this.pacer?.stop();
    this.handlers.onClose(this);
  }

  /** Cover off: takes an envelope's pieces to seal at the end of this turn, with whatever else this turn sends. */
  private transmit(pieces: readonly Uint8Array[]): void {
    if (this.state.phase !== "auth" && this.state.phase !== "ready") return;
    this.pending.push(...pieces);
    for (const piece of pieces) this.pendingBytes += piece.length;
    this.writeThisTurn();
    if (this.pendingBytes >= Math.min(SEAL_CHUNK, this.ctx.limits.maxBufferedBytes)) this.sealPending();
  }

  /** Cover on: a slot's frame (real data or cover), written now. */
  private writeSlot(frame: Uint8Array, cover: boolean): void {
    if (this.isClosed) return;
    if (cover) this.ctx.metrics.coverOut++;
    this.sendFrames([frame]);
  }

  /** Seals the pending pieces, packing consecutive small ones into shared frames, and sends them. */
  private sealPending(): void {
    if (this.pending.length === 0) return;
    const pieces = this.pending;
    this.pending = [];
    this.pendingBytes = 0;
    if (this.state.phase !== "auth" && this.state.phase !== "ready") return;
    this.sendFrames(this.state.codec.sealAll(pieces));
  }

  private sendFrames(frames: readonly Uint8Array[]): void {
    for (const frame of frames) {
      this.ctx.metrics.countFrame("out", frame.length);
      this.ws.send(frame);
    }
    this.dropIfBacklogged();
  }

  /**
   * Holds this turn's frames back and writes them together once the current callback returns:
   * the pieces handed over in this turn are sealed then, small ones sharing frames, and a burst
   * of acks and fan-out to one link costs a few seals and one system call instead of one each
   * per envelope. Order and contents are unchanged; nothing waits past the end of the turn.
   */
  private writeThisTurn(): void {
    if (this.corked) return;
    this.corked = true;
    this.socket.cork();
    process.nextTick(this.uncork);
  }

  private readonly uncork = () => {
    if (!this.corked) return;
    this.sealPending();
    this.corked = false;
    this.socket.uncork();
  };

  /** Lets the frames held back so far go now, when the rest of the turn has more work to do. */
  flushWrites(): void {
    this.uncork();
  }

  /** Bytes waiting to go out on this link: this turn's, the socket's buffer and the pacer's queue. */
  get outgoingBytes(): number {
    return this.pendingBytes + this.ws.bufferedAmount + (this.pacer?.queuedBytes ?? 0);
  }

  /**
   * How a replay batch is sized and paced on this link (replayBudget.ts): at most a quarter of
   * maxBufferedBytes, and on a paced link what its slots carry in a few seconds. The batch has
   * drained once no more than a low-water mark waits; one that has not within replayStallMs
   * drops the link as too slow (it resumes from its cursor), so that a link that stops reading
   * cannot keep a share of the relay-wide budget.
   */
  replayTurn(): ReplayTurn {
    const limits = this.ctx.limits;
    const paced = this.pacer === undefined ? Number.POSITIVE_INFINITY : coverBudget(this.ctx.cover) * PACED_BATCH_SECONDS;
    const batchBytes = Math.max(1, Math.floor(Math.min(limits.replayBatchBytes, limits.maxBufferedBytes / 4, paced)));
    const lowWater = Math.min(REPLAY_LOW_WATER, batchBytes);
    return {
      batchBytes,
      drained: () =>
        new Promise<void>((resolve) => {
          const deadline = this.ctx.now() + limits.replayStallMs;
          const check = () => {
            if (this.isClosed || this.outgoingBytes <= lowWater) return resolve();
            if (this.ctx.now() >= deadline) {
              this.close(1008, "too slow: reconnect and resume");
              return resolve();
            }
            setTimeout(check, DRAIN_POLL_MS).unref();
          };
          check();
        }),
    };
  }

  /** A reader too slow to keep up is dropped; it resumes from its cursor when it reconnects. */
  private dropIfBacklogged(): void {
    if (this.ws.bufferedAmount > this.ctx.limits.maxBufferedBytes) this.close(1008, "too slow: reconnect and resume");
  }

  private onMessage(data: unknown, isBinary: boolean): void {
    if (this.state.phase === "closed") return;
    const frame = toBytes(data);
    if (!isBinary || frame === undefined) return this.protocolError("binary frames only");
    const limited = !this.frames.take(1) || !this.bytes.take(frame.length);
    try {
      this.handleFrame(frame, limited);
      if (this.state.phase === "auth") this.ctx.slots.holding(this, this.state.codec.bufferedBytes);
    } catch (error) {
      if (error instanceof WireError) return this.protocolError(error.message);
      // Never let one link's surprise take the relay down: drop that link only.
      this.close(1011, "internal error");
    }
  }

  /**
   * Opens a frame; over the rate limit it is still opened (to keep nonces in step) but refused.
   * The frame's token paid for its first piece; each further piece packed in it costs one more,
   * so the frames/s limit counts envelopes however they are packed.
   */
  private handleFrame(frame: Uint8Array, limited: boolean): void {
    if (this.state.phase === "handshake") {
      const { reply, keys } = respondToHello(frame, this.ctx.relayKey);
      const codec = new LinkCodec(keys, this.ctx.now, this.ctx.peerSendsCells ?? false);
      // Until Auth, nothing but one Auth: no fragments, no longer record, so nothing to hold.
      codec.limitIncoming(MAX_AUTH_ENVELOPE_BYTES);
      this.state = { phase: "auth", codec, binding: keys.binding };
      this.ws.send(reply);
      this.startPacer(codec);
      return;
    }
    if (this.state.phase === "closed") return;
    this.ctx.metrics.countFrame("in", frame.length);
    const { cover, pieces, envelopes } = this.state.codec.readEncoded(frame);
    if (cover) {
      this.ctx.metrics.coverIn++;
      if (limited) this.breach();
      return;
    }
    if (!limited && pieces > 1 && !this.frames.take(pieces - 1)) limited = true;
    for (const { envelope, bytes } of envelopes) {
      this.ctx.metrics.countIn(envelope.type);
      if (!limited) {
        // A request before this one may have closed the link (a failed Auth, say).
        if (!this.isClosed) this.handlers.onEnvelope(this, envelope, bytes);
      } else if (this.breach()) {
        this.error(envelope.id, "rate_limited", "too many frames or bytes per second; slow down and retry");
      }
    }
  }

  /**
   * Cover on: from the handshake on, frames to this link leave only in the slots of its own
   * schedule (the client's Auth gets its AuthOk in the first slot after it). Its queue holds as
   * much as a socket's buffer may (maxBufferedBytes).
   */
  private startPacer(codec: LinkCodec): void {
    const cover = this.ctx.cover;
    if (cover.mode === "off") return;
    this.pacer = new LinkPacer({
      cover: { ...cover, mode: cover.mode },
      codec,
      write: (frame, isCover) => this.writeSlot(frame, isCover),
      maxQueuedBytes: this.ctx.limits.maxBufferedBytes,
      timers: this.ctx.timers ?? realTimers,
      now: this.ctx.now,
      random: this.ctx.random ?? Math.random,
    });
    this.pacer.start();
  }

  /**
   * Counts one request (or cover frame) refused over the rate limit; false once the link is closed
   * for it. Counted per request, not per frame, so a frame packed with refusals draws at most
   * MAX_BREACHES answers, as when every request had a frame of its own.
   */
  private breach(): boolean {
    if (this.isClosed) return false;
    if (++this.breaches <= MAX_BREACHES) return true;
    this.close(1008, "rate limit exceeded repeatedly");
    return false;
  }

  private protocolError(reason: string): void {
    this.ctx.metrics.protocolErrors++;
    this.close(1002, reason.slice(0, 120));
  }
}

function toBytes(data: unknown): Uint8Array | undefined {
  if (data instanceof Uint8Array) return data;
  if (Array.isArray(data)) return Buffer.concat(data as Buffer[]);
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  return undefined;
}
