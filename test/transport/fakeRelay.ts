import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { isRelayThrough, type Envelope, type EnvelopeOf } from "../../src/wire/envelope.js";
import { respondToHello } from "../../src/wire/handshake.js";
import { LinkCodec } from "../../src/wire/link.js";
import { readMlsRouting } from "../../src/wire/mlsHeader.js";
import { generateStaticKeyPair, type StaticKeyPair } from "../../src/wire/x25519.js";
import { LINK_CELLS_HEADER, LINK_REVISION, LINK_REVISION_HEADER, peerRevision, peerSendsCells } from "../../src/wire/linkRevision.js";
import type { IncomingMessage } from "node:http";

/**
 * TEST DOUBLE of the relay, for the transport tests only: just enough of docs/protocol.md (auth,
 * subscribe with replay, Msg with dedup, proposal/commit ack/nack, inbox, key packages, ping),
 * built from the real wire pieces. Integration tests use the real relay in src/relay instead.
 */

interface Channel {
  readonly frames: Envelope[];
  epoch: bigint | undefined;
  /** Seq of the commit that made the current epoch. */
  epochSeq: bigint;
}

interface Client {
  readonly socket: WebSocket;
  /** The real codec, both ways (it tells cover frames from fragments and cells). */
  codec: LinkCodec | undefined;
  /** The principal (identity key, hex) it authenticated as. */
  agent: string | undefined;
  readonly channels: Set<string>;
  inbox: boolean;
}

export interface FakeRelayOptions {
  /** Required token; undefined accepts any (like an open loopback relay). */
  readonly token?: string;
  readonly key?: StaticKeyPair;
  /** The link revision announced in the upgrade (default the current one; 1 announces none). */
  readonly revision?: number;
}

export class FakeRelay {
  readonly key: StaticKeyPair;
  /** Every envelope received from clients, in order. */
  readonly received: Envelope[] = [];
  /** Byte size of every WebSocket message received after each handshake. */
  readonly frameSizes: number[] = [];
  coverFrames = 0;
  connections = 0;
  keyFetches = 0;
  /** When set, requests are processed but not answered (as if the link dropped first). */
  silent = false;
  /** Error codes to answer the next requests with, instead of handling them. */
  readonly refuseNext: string[] = [];
  private readonly channels = new Map<string, Channel>();
  private readonly inboxes = new Map<string, { seq: bigint; envelope: Envelope }[]>();
  private readonly inboxSeq = new Map<string, bigint>();
  private readonly seen = new Map<string, Envelope>();
  private readonly keyPackages = new Map<string, Uint8Array[]>();
  private readonly clients = new Set<Client>();

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly options: FakeRelayOptions,
  ) {
    this.key = options.key ?? generateStaticKeyPair();
  }

  /** Starts a relay on 127.0.0.1 with a free port. */
  static async start(options: FakeRelayOptions = {}): Promise<FakeRelay> {
    const http = createServer();
    const wss = new WebSocketServer({ server: http, path: "/v1/link", perMessageDeflate: false });
    const relay = new FakeRelay(http, wss, options);
    const revision = options.revision ?? LINK_REVISION;
    if (revision > 1) wss.on("headers", (headers) => headers.push(`${LINK_REVISION_HEADER}: ${revision}`));
    http.on("request", (req, res) => {
      if (req.url !== "/v1/key") return void res.writeHead(404).end();
      relay.keyFetches++;
      res.writeHead(200, { "content-type": "text/plain" }).end(Buffer.from(relay.key.publicKey).toString("base64url"));
    });
    wss.on("connection", (socket, request) => relay.accept(socket, request));
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    return relay;
  }

  /** The relay's base URL, for RelayClient's `url`. */
  get url(): string {
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  /** Frames archived in a channel, in seq order. */
  archive(channel: Uint8Array): Envelope[] {
    return this.channels.get(hex(channel))?.frames ?? [];
  }

  /** Cuts every client connection abruptly, as a crash or network failure would. */
  terminateAll(): void {
    for (const c of this.clients) c.socket.terminate();
  }

  /** Stores a Msg as if another member had sent it, and fans it out; returns its seq. */
  inject(body: Uint8Array): bigint {
    const frame: Envelope = { type: "Msg", id: 0n, body };
    return this.store(frame, hex(readMlsRouting(body).groupId)).id;
  }

  /** Stops listening and cuts every connection. */
  async close(): Promise<void> {
    this.terminateAll();
    await new Promise<void>((resolve) => this.wss.close(() => resolve()));
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }

  private accept(socket: WebSocket, request: IncomingMessage): void {
    this.connections++;
    // A client that paces sends only cells (if this relay announced a revision that reads them).
    const cells = peerSendsCells(Math.min(this.options.revision ?? LINK_REVISION, peerRevision(request.headers[LINK_REVISION_HEADER])), request.headers[LINK_CELLS_HEADER]);
    const client: Client = {
      socket,
      codec: undefined,
      agent: undefined,
      channels: new Set(),
      inbox: false,
    };
    this.clients.add(client);
    socket.on("close", () => this.clients.delete(client));
    socket.on("message", (data: Buffer) => {
      if (client.codec === undefined) {
        const { reply, keys } = respondToHello(new Uint8Array(data), this.key);
        client.codec = new LinkCodec(keys, Date.now, cells);
        socket.send(reply);
        return;
      }
      this.frameSizes.push(data.length);
      let envelopes: Envelope[];
      try {
        const read = client.codec.readEncoded(new Uint8Array(data));
        if (read.cover) return void this.coverFrames++;
        envelopes = read.envelopes.map((r) => r.envelope);
      } catch {
        return void socket.terminate();
      }
      envelopes.forEach((envelope) => this.handle(client, envelope));
    });
  }

  private send(client: Client, envelope: Envelope): void {
    const codec = client.codec;
    if (codec === undefined) return;
    for (const piece of codec.pieces(envelope)) client.socket.send(codec.seal(piece));
  }

  private reply(client: Client, envelope: Envelope): void {
    if (!this.silent) this.send(client, envelope);
  }

  private handle(client: Client, e: Envelope): void {
    this.received.push(e);
    if (client.agent === undefined) {
      if (e.type !== "Auth") return void client.socket.terminate();
      if (this.options.token !== undefined && e.token !== this.options.token) {
        this.send(client, { type: "Error", id: e.id, code: "auth_failed", message: "bad token" });
        return void client.socket.close();
      }
      client.agent = hex(e.key);
      return this.send(client, { type: "AuthOk", id: e.id, agent: e.agent, key: e.key });
    }
    const refusal = this.refuseNext.shift();
    if (refusal !== undefined) return this.send(client, { type: "Error", id: e.id, code: refusal, message: "refused by the test" });
    switch (e.type) {
      case "Subscribe": {
        const key = hex(e.channel);
        const frames = this.channels.get(key)?.frames ?? [];
        this.send(client, { type: "Ack", id: e.id, seq: BigInt(frames.length) });
        for (const f of frames) if (f.id >= e.fromSeq) this.send(client, f);
        client.channels.add(key);
        return;
      }
      case "Unsubscribe":
        client.channels.delete(hex(e.channel));
        return this.send(client, { type: "Ack", id: e.id, seq: 0n });
      case "InboxSubscribe": {
        const agent = client.agent;
        this.send(client, { type: "Ack", id: e.id, seq: this.inboxSeq.get(agent) ?? 0n });
        for (const item of this.inboxes.get(agent) ?? []) if (item.seq >= e.fromSeq) this.send(client, item.envelope);
        client.inbox = true;
        return;
      }
      case "InboxAck": {
        const items = this.inboxes.get(client.agent) ?? [];
        this.inboxes.set(client.agent, items.filter((i) => i.seq > e.upToSeq));
        return this.reply(client, { type: "Ack", id: e.id, seq: e.upToSeq });
      }
      case "Msg":
        return this.reply(client, { type: "Ack", id: e.id, seq: this.store(e, hex(readMlsRouting(e.body).groupId)).id });
      case "GroupProposal":
      case "GroupCommit":
        return this.reply(client, { ...this.handshakeVerdict(e), id: e.id });
      case "KeyPackagePublish": {
        const list = this.keyPackages.get(client.agent) ?? [];
        list.push(e.keyPackage);
        this.keyPackages.set(client.agent, list);
        return this.reply(client, { type: "Ack", id: e.id, seq: 0n });
      }
      case "KeyPackageFetch":
        return this.reply(client, { type: "KeyPackageReply", id: e.id, key: e.key, keyPackage: this.keyPackages.get(hex(e.key))?.shift() });
      case "Ping":
        return this.reply(client, { type: "Pong", id: e.id });
      default:
        if (!isRelayThrough(e)) return this.send(client, { type: "Error", id: e.id, code: "bad_request", message: `unexpected ${e.type}` });
        if (e.target.kind === "agent") {
          const seq = this.toInbox(hex(e.target.key), { ...e, from: unhex(client.agent) });
          return this.reply(client, { type: "Ack", id: e.id, seq });
        }
        return this.reply(client, { type: "Ack", id: e.id, seq: this.store({ ...e, from: unhex(client.agent) }, hex(e.target.channel)).id });
    }
  }

  private handshakeVerdict(e: EnvelopeOf<"GroupProposal" | "GroupCommit">): Envelope {
    const body = e.type === "GroupCommit" ? e.commit : e.body;
    const routing = readMlsRouting(body);
    const key = hex(routing.groupId);
    const previous = this.seen.get(`${e.type}:${hex(body)}`);
    const channel = this.channel(key);
    if (previous !== undefined) {
      return { type: "GroupAck", id: 0n, channel: routing.groupId, epoch: e.type === "GroupCommit" ? routing.epoch + 1n : routing.epoch, seq: previous.id };
    }
    if (channel.epoch !== undefined && routing.epoch !== channel.epoch) {
      return { type: "GroupNack", id: 0n, channel: routing.groupId, epoch: channel.epoch, winningSeq: channel.epochSeq };
    }
    if (e.type === "GroupProposal") {
      channel.epoch = routing.epoch;
      return { type: "GroupAck", id: 0n, channel: routing.groupId, epoch: routing.epoch, seq: this.store(e, key).id };
    }
    const stored = this.store({ ...e, welcome: undefined }, key);
    channel.epoch = routing.epoch + 1n;
    channel.epochSeq = stored.id;
    for (const agent of e.welcome?.recipients ?? []) {
      this.toInbox(hex(agent), { type: "GroupWelcome", id: 0n, channel: routing.groupId, commitSeq: 0n, welcome: e.welcome?.welcome ?? new Uint8Array() });
    }
    return { type: "GroupAck", id: 0n, channel: routing.groupId, epoch: channel.epoch, seq: stored.id };
  }

  /** Archives a frame once: the same body again answers the first seq. */
  private store(frame: Envelope, channel: string): Envelope {
    const dedupKey = `${frame.type}:${hex(encodeBody(frame))}`;
    const previous = this.seen.get(dedupKey);
    if (previous !== undefined) return previous;
    const stored = { ...frame, id: this.archiveFrame(channel, frame) };
    this.seen.set(dedupKey, stored);
    return stored;
  }

  private archiveFrame(key: string, frame: Envelope): bigint {
    const channel = this.channel(key);
    const seq = BigInt(channel.frames.length + 1);
    const stored = { ...frame, id: seq };
    channel.frames.push(stored);
    for (const c of this.clients) if (c.channels.has(key)) this.send(c, stored);
    return seq;
  }

  private toInbox(agent: string, envelope: Envelope): bigint {
    const seq = (this.inboxSeq.get(agent) ?? 0n) + 1n;
    this.inboxSeq.set(agent, seq);
    const stored = { ...envelope, id: seq };
    const items = this.inboxes.get(agent) ?? [];
    items.push({ seq, envelope: stored });
    this.inboxes.set(agent, items);
    for (const c of this.clients) if (c.inbox && c.agent === agent) this.send(c, stored);
    return seq;
  }

  private channel(key: string): Channel {
    let channel = this.channels.get(key);
    if (channel === undefined) this.channels.set(key, (channel = { frames: [], epoch: undefined, epochSeq: 0n }));
    return channel;
  }
}

function encodeBody(frame: Envelope): Uint8Array {
  if (frame.type === "Msg" || frame.type === "GroupProposal") return frame.body;
  if (frame.type === "GroupCommit") return frame.commit;
  return isRelayThrough(frame) ? frame.payload : new Uint8Array();
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("hex");
}

function unhex(principal: string): Uint8Array {
  return new Uint8Array(Buffer.from(principal, "hex"));
}
