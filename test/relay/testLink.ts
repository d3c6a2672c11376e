// A minimal client for relay tests, built from the real wire pieces: handshake, link frames,
// request/reply by id, and a log of everything the relay pushed.
import WebSocket from "ws";
import type { Envelope } from "../../src/wire/envelope.js";
import { ClientHandshake } from "../../src/wire/handshake.js";
import { LinkCodec } from "../../src/wire/link.js";
import { LINK_CELLS_HEADER, LINK_REVISION, LINK_REVISION_HEADER, peerRevision, peerSendsCells } from "../../src/wire/linkRevision.js";
import { testIdentity, type TestIdentity } from "../identity.js";

export class TestLink {
  readonly pushed: Envelope[] = [];
  readonly frameSizes: number[] = [];
  /** Frames that acknowledged requests: an Ack or an Acks (which answers several). */
  ackFrames = 0;
  /** Frames received that were not cover (pieces, or a cell of the relay's byte stream). */
  realFrames = 0;
  covers = 0;
  closed: { code: number; reason: string } | undefined;
  private nextId = 1n;
  /** The link's binding (what Auth signs). */
  binding: Uint8Array = new Uint8Array(0);
  private readonly waiting = new Map<bigint, (e: Envelope) => void>();
  private readonly watchers = new Set<() => void>();

  private constructor(
    private readonly ws: WebSocket,
    private readonly codec: LinkCodec,
    /** The name the link authenticates as. */
    readonly agent: string,
  ) {
    ws.on("message", (data: Buffer) => {
      this.frameSizes.push(data.length);
      const { cover, envelopes } = this.codec.readEncoded(data);
      if (cover) {
        this.covers++;
        return;
      }
      this.realFrames++;
      if (envelopes.some(({ envelope: e }) => e.type === "Ack" || e.type === "Acks")) this.ackFrames++;
      for (const { envelope: e } of envelopes) {
        // An Acks answers each request it lists like an Ack of its own.
        if (e.type === "Acks") for (const { id, seq } of e.acks) this.reply({ type: "Ack", id, seq });
        else this.reply(e);
      }
      this.watchers.forEach((w) => w());
    });
    ws.on("close", (code, reason) => {
      this.closed = { code, reason: reason.toString() };
      this.watchers.forEach((w) => w());
    });
  }

  /** Hands a reply to the request waiting for it; anything else is recorded as pushed. */
  private reply(e: Envelope): void {
    const waiter = this.waiting.get(e.id);
    const isReply = ["Ack", "AuthOk", "Error", "GroupAck", "GroupNack", "KeyPackageReply", "NameReply", "Pong"].includes(e.type);
    if (isReply && waiter !== undefined) {
      this.waiting.delete(e.id);
      waiter(e);
    } else this.pushed.push(e);
  }

  /**
   * Connects, handshakes and (unless `auth` is false) authenticates as `agent`, holding the test
   * identity of that name (identity.ts) unless `identity` says otherwise. `revision`: the link
   * revision announced (default the current one; 1 announces none, like an old client).
   */
  static async connect(url: string, relayKey: Uint8Array, agent: string, options: TestLinkOptions = {}): Promise<TestLink> {
    const revision = options.revision ?? LINK_REVISION;
    const ws = new WebSocket(`${url}/v1/link`, revision > 1 ? { headers: { [LINK_REVISION_HEADER]: String(revision) } } : {});
    ws.binaryType = "nodebuffer";
    // A relay that paces sends a client of revision 3 nothing but cells.
    let cells = false;
    ws.once("upgrade", (response) => (cells = revision >= 3 && peerSendsCells(peerRevision(response.headers[LINK_REVISION_HEADER]), response.headers[LINK_CELLS_HEADER])));
    await new Promise<void>((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("error", reject);
    });
    const hs = new ClientHandshake(relayKey);
    const reply = new Promise<Buffer>((resolve) => ws.once("message", (d: Buffer) => resolve(d)));
    ws.send(hs.hello);
    const keys = hs.finish(await reply);
    const link = new TestLink(ws, new LinkCodec(keys, Date.now, cells), agent);
    link.binding = keys.binding;
    if (options.auth !== false) {
      const identity = options.identity ?? testIdentity(agent);
      const signature = await identity.prove(keys.binding);
      const answer = await link.request({ type: "Auth", id: 0n, agent, key: identity.key, signature, token: options.token ?? "" });
      if (answer.type !== "AuthOk") throw Object.assign(new Error(`auth refused: ${JSON.stringify(answer, bigintJson)}`), { answer });
    }
    return link;
  }

  /** Sends a request (its id is replaced by a fresh one) and resolves with the relay's reply. */
  request(e: Envelope, timeoutMs = 10_000): Promise<Envelope> {
    const [reply] = this.requestPacked([e], timeoutMs);
    return reply as Promise<Envelope>;
  }

  /** Like request() for several, sent packed into as few frames as the link's packing allows. */
  requestPacked(requests: readonly Envelope[], timeoutMs = 10_000): Promise<Envelope>[] {
    const sent: Envelope[] = [];
    const replies = requests.map((e) => {
      const id = this.nextId++;
      sent.push({ ...e, id } as Envelope);
      return new Promise<Envelope>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no reply to ${e.type}`)), timeoutMs);
        this.waiting.set(id, (reply) => {
          clearTimeout(timer);
          resolve(reply);
        });
      });
    });
    this.sendPacked(sent);
    return replies;
  }

  send(e: Envelope): void {
    for (const piece of this.codec.pieces(e)) this.ws.send(this.codec.seal(piece));
  }

  /** Sends envelopes packed into as few frames as the link's packing allows. */
  sendPacked(envelopes: readonly Envelope[]): void {
    for (const frame of this.codec.sealAll(envelopes.flatMap((e) => this.codec.pieces(e)))) this.ws.send(frame);
  }

  sendCover(size: number): void {
    this.ws.send(this.codec.sealCover(size));
  }

  /** Seals arbitrary bytes as an envelope piece: a valid frame around possibly invalid content. */
  sendPiece(piece: Uint8Array): void {
    this.ws.send(this.codec.seal(piece));
  }

  /** Seals arbitrary pieces packed as the link packs (sharing frames while they fit). */
  sendPieces(pieces: readonly Uint8Array[]): void {
    for (const frame of this.codec.sealAll(pieces)) this.ws.send(frame);
  }

  sendRaw(bytes: Uint8Array): void {
    this.ws.send(bytes);
  }

  /** Resolves once `predicate` holds over what was pushed (checked on every arrival). */
  waitFor(predicate: (pushed: Envelope[]) => boolean, timeoutMs = 10_000): Promise<void> {
    if (predicate(this.pushed)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!predicate(this.pushed)) return;
        this.watchers.delete(check);
        clearTimeout(timer);
        resolve();
      };
      const timer = setTimeout(() => {
        this.watchers.delete(check);
        reject(new Error(`timed out; ${this.pushed.length} pushed`));
      }, timeoutMs);
      this.watchers.add(check);
    });
  }

  waitClosed(timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.closed === undefined) return;
        this.watchers.delete(check);
        clearTimeout(timer);
        resolve(this.closed);
      };
      const timer = setTimeout(() => reject(new Error("not closed")), timeoutMs);
      this.watchers.add(check);
      check();
    });
  }

  close(): void {
    this.ws.close();
  }
}

export interface TestLinkOptions {
  readonly token?: string;
  readonly auth?: boolean;
  readonly revision?: number;
  /** Whose key the link proves: default the test identity of the agent's name. */
  readonly identity?: Pick<TestIdentity, "key" | "prove">;
}

export function bigintJson(_key: string, value: unknown): unknown {
  return typeof value === "bigint" ? value.toString() : value instanceof Uint8Array ? Buffer.from(value).toString("hex") : value;
}
