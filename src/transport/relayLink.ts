import WebSocket, { type RawData } from "ws";
import { BUCKETS } from "../wire/buckets.js";
import type { CoverConfig, Timers } from "../wire/cover.js";
import type { Envelope } from "../wire/envelope.js";
import { WireError } from "../wire/errors.js";
import { ClientHandshake, HANDSHAKE_BYTES } from "../wire/handshake.js";
import { LinkCodec } from "../wire/link.js";
import { LinkPacer } from "../wire/linkPacer.js";
import { LINK_CELLS_HEADER, LINK_REVISION, LINK_REVISION_HEADER, MIN_LINK_REVISION, peerRevision, peerSendsCells } from "../wire/linkRevision.js";
import { TransportError } from "./errors.js";

const LARGEST_BUCKET = BUCKETS[BUCKETS.length - 1] as number;
/** How long a graceful close may take before the socket is cut. */
const CLOSE_GRACE_MS = 1000;
/** Frames of what is still queued that a paced link sends at once when it closes (the rest stays in the outbox). */
const CLOSE_DRAIN_FRAMES = 8;

export interface RelayLinkParams {
  /** The full `/v1/link` URL. */
  readonly url: string;
  readonly relayKey: Uint8Array;
  /** What to tell the user when the relay cannot prove it holds `relayKey`. */
  readonly mismatchMessage: string;
  readonly cover: CoverConfig;
  readonly timers: Timers;
  readonly random: () => number;
  /** A monotonic clock, ms: silence, reassembly timeouts and cover slots. */
  readonly now: () => number;
  readonly handshakeTimeoutMs: number;
  /** Every envelope the relay sends once the link is up, in order. */
  readonly onEnvelope: (envelope: Envelope) => void;
  /** Called once when a link that became ready ends, with why. */
  readonly onClose: (reason: TransportError) => void;
}

/**
 * One WebSocket to the relay: the handshake, then link frames through LinkCodec. With cover off,
 * what one turn of the event loop sends is sealed together at its end; with cover on, a
 * LinkPacer sends one frame per slot of its schedule and nothing else. It knows nothing of
 * requests or subscriptions.
 */
export class RelayLink {
  /** Resolves when the handshake is done; rejects with why the attempt failed. */
  readonly ready: Promise<void>;
  private readonly ws: WebSocket;
  private readonly handshake: ClientHandshake;
  private readonly closed: Promise<void>;
  private markReady!: () => void;
  private failReady!: (reason: TransportError) => void;
  private codec: LinkCodec | undefined;
  /** Set when cover is on (from the handshake on). */
  private pacer: LinkPacer | undefined;
  /** Cover off: pieces handed over this turn, sealed together (sharing frames) when the turn ends. */
  private pending: Uint8Array[] = [];
  private flushQueued = false;
  private reason: TransportError | undefined;
  /** The link revision the relay announced in the upgrade: what it reads (see linkRevision.ts). */
  private relayRevision = 1;
  /** Whether the relay announced that it paces: then every frame from it is a cell. */
  private relayCells = false;
  private handshakeTimer: unknown;
  private graceTimer: unknown;
  private lastReceived: number;
  /** This link's binding (handshake.ts), once the handshake is done: what Auth signs. */
  private linkBinding: Uint8Array | undefined;

  constructor(private readonly p: RelayLinkParams) {
    this.lastReceived = p.now();
    this.ready = new Promise((resolve, reject) => {
      this.markReady = resolve;
      this.failReady = reject;
    });
    this.handshake = new ClientHandshake(p.relayKey);
    this.handshakeTimer = p.timers.setTimeout(
      () => this.fail(new TransportError("timeout", `the relay at ${p.url} did not complete the handshake in time`)),
      p.handshakeTimeoutMs,
    );
    // No compression: it would make frame contents guessable from sizes, which buckets exist to hide.
    const headers = { [LINK_REVISION_HEADER]: String(LINK_REVISION), ...(p.cover.mode === "off" ? {} : { [LINK_CELLS_HEADER]: "1" }) };
    this.ws = new WebSocket(p.url, { perMessageDeflate: false, maxPayload: LARGEST_BUCKET, headers });
    this.ws.binaryType = "nodebuffer";
    this.ws.on("upgrade", (response) => {
      this.relayRevision = peerRevision(response.headers[LINK_REVISION_HEADER]);
      this.relayCells = peerSendsCells(this.relayRevision, response.headers[LINK_CELLS_HEADER]);
    });
    this.ws.on("unexpected-response", (_request, response) => {
      // The relay refuses an older client with 426 and says why; anything else is not a skytale relay.
      const status = response.statusCode ?? 0;
      let body = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (body = (body + chunk).slice(0, 300)));
      response.on("end", () =>
        this.fail(
          status === 426
            ? new TransportError("incompatible", `the relay at ${p.url} refused this client: ${body.trim() || "upgrade skytale-mcp"}`)
            : new TransportError("unreachable", `${p.url} answered HTTP ${status} instead of a skytale link (is it a skytale relay?)`),
        ),
      );
    });
    this.ws.on("open", () => this.ws.send(this.handshake.hello));
    this.ws.on("message", (data, isBinary) => this.receive(data, isBinary));
    this.ws.on("error", (error) => {
      const code = this.codec === undefined ? "unreachable" : "disconnected";
      this.reason ??= new TransportError(code, `relay connection to ${p.url} failed: ${error.message}`, { cause: error });
    });
    this.closed = new Promise((resolve) => this.ws.once("close", () => resolve(this.onSocketClosed())));
  }

  /** This link's binding, which the client's authentication signs; undefined before the handshake. */
  get binding(): Uint8Array | undefined {
    return this.linkBinding;
  }

  /** When the relay last sent anything, cover frames included. */
  get lastReceivedAt(): number {
    return this.lastReceived;
  }

  /**
   * Sends an envelope, its fragments one after another so that nothing can come between them:
   * at the end of this turn with cover off, in the next slots with cover on. Dropped when the
   * link is going away: the client re-sends everything unanswered on the next link.
   */
  send(envelope: Envelope): void {
    if (this.codec === undefined || this.reason !== undefined) return;
    const pieces = this.codec.pieces(envelope);
    // submit() cannot refuse: the bound is Infinity because the client bounds what it sends.
    if (this.pacer !== undefined) this.pacer.submit(pieces);
    else this.queue(pieces);
  }

  /** Ends the link (gracefully once established) and resolves when the socket is closed. */
  close(): Promise<void> {
    // What was sent before the close goes before it.
    this.flush();
    this.pacer?.drain(CLOSE_DRAIN_FRAMES);
    this.reason ??= new TransportError("closed", "the link was closed");
    this.pacer?.stop();
    if (this.ws.readyState === WebSocket.OPEN && this.codec !== undefined) {
      this.ws.close(1000);
      this.graceTimer = this.p.timers.setTimeout(() => this.ws.terminate(), CLOSE_GRACE_MS);
    } else {
      this.ws.terminate();
    }
    return this.closed;
  }

  /** Cuts the link at once, e.g. when the relay has gone silent. */
  fail(reason: TransportError): void {
    this.reason ??= reason;
    this.pacer?.stop();
    this.ws.terminate();
  }

  private receive(data: RawData, isBinary: boolean): void {
    if (this.reason !== undefined) return;
    if (!isBinary) return this.fail(new TransportError("protocol_error", "the relay sent a text message"));
    const frame = toBytes(data);
    this.lastReceived = this.p.now();
    if (this.codec === undefined) return this.finishHandshake(frame);
    let envelopes: Envelope[];
    try {
      envelopes = this.codec.read(frame);
    } catch (error) {
      // Any bad frame puts the frame counters out of step: the link cannot continue.
      return this.fail(new TransportError("protocol_error", `the relay sent a bad frame: ${(error as Error).message}`, { cause: error }));
    }
    for (const envelope of envelopes) {
      // A handler may have ended the link: the rest of the frame is dropped with it.
      if (this.reason !== undefined) return;
      this.p.onEnvelope(envelope);
    }
  }

  private finishHandshake(reply: Uint8Array): void {
    if (this.relayRevision < MIN_LINK_REVISION) {
      return this.fail(
        new TransportError("incompatible", `the relay at ${this.p.url} speaks link revision ${this.relayRevision}, older than ${MIN_LINK_REVISION} (agents are their identity keys): upgrade the relay`),
      );
    }
    let codec: LinkCodec;
    try {
      const keys = this.handshake.finish(reply);
      codec = new LinkCodec(keys, this.p.now, this.relayCells);
      this.linkBinding = keys.binding;
    } catch (error) {
      const mismatch = error instanceof WireError && error.code === "handshake_failed" && reply.length === HANDSHAKE_BYTES;
      return this.fail(
        mismatch
          ? new TransportError("relay_key_mismatch", this.p.mismatchMessage, { cause: error })
          : new TransportError("protocol_error", `the relay at ${this.p.url} sent a malformed handshake`, { cause: error }),
      );
    }
    this.p.timers.clearTimeout(this.handshakeTimer);
    this.codec = codec;
    const cover = this.p.cover;
    if (cover.mode !== "off") {
      // Auth is the first thing to wait for a slot.
      this.pacer = new LinkPacer({
        cover: { ...cover, mode: cover.mode },
        codec,
        write: (frame) => {
          if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame, { binary: true });
        },
        maxQueuedBytes: Number.POSITIVE_INFINITY,
        timers: this.p.timers,
        now: this.p.now,
        random: this.p.random,
      });
      this.pacer.start();
    }
    this.markReady();
  }

  /**
   * Cover off: takes pieces to seal at the end of this turn, with whatever else this turn sends:
   * requests made together (a burst of sends, an outbox re-sent on a new link) then share frames.
   * Nothing waits for a timer or for I/O.
   */
  private queue(pieces: readonly Uint8Array[]): void {
    this.pending.push(...pieces);
    if (this.flushQueued) return;
    this.flushQueued = true;
    process.nextTick(this.flush);
  }

  /** Seals the pending pieces, consecutive small ones sharing frames, and sends them in order. */
  private readonly flush = (): void => {
    this.flushQueued = false;
    const pieces = this.pending;
    if (pieces.length === 0) return;
    this.pending = [];
    if (this.codec === undefined || this.ws.readyState !== WebSocket.OPEN) return;
    for (const frame of this.codec.sealAll(pieces)) this.ws.send(frame, { binary: true });
  };

  private onSocketClosed(): void {
    this.p.timers.clearTimeout(this.handshakeTimer);
    this.p.timers.clearTimeout(this.graceTimer);
    this.pacer?.stop();
    if (this.codec === undefined) {
      this.failReady(this.reason ?? new TransportError("unreachable", `the relay at ${this.p.url} closed the connection during the handshake`));
      return;
    }
    this.p.onClose(this.reason ?? new TransportError("disconnected", `the relay at ${this.p.url} closed the connection`));
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
