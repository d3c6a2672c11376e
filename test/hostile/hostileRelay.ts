// A relay that misbehaves on purpose, for tests: a man in the middle that holds its own static
// link key (clients pin it, so as far as they know it IS the relay), terminates every client link,
// opens its own link to a real inner Relay and forwards decoded envelopes both ways. Hooks see
// every envelope (per direction, with the client's authenticated name) and decide what goes on:
// the same envelope, a changed one, several, or none. The real relay logic stays untouched. A client's
// Auth signs the binding of its own link, which means nothing on another: this relay, standing in
// for the relay the agents trust, authenticates upstream as each agent with its test identity.
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer, type RawData } from "ws";
import type { Envelope } from "../../src/wire/envelope.js";
import { ClientHandshake, respondToHello } from "../../src/wire/handshake.js";
import { LinkCodec } from "../../src/wire/link.js";
import { linkAuthBytes } from "../../src/wire/linkAuth.js";
import { LINK_REVISION, LINK_REVISION_HEADER } from "../../src/wire/linkRevision.js";
import { testIdentity } from "../identity.js";
import { generateStaticKeyPair, type StaticKeyPair } from "../../src/wire/x25519.js";

/** up: client → relay; down: relay → client. */
export type Direction = "up" | "down";

/** What a hook returns: the envelopes to pass on instead (empty: drop), or undefined for "as is". */
export type Hook = (envelope: Envelope, from: HostileLink) => Envelope[] | undefined;

/** A hook on sealed link frames going down (bytes as the client's socket receives them). */
export type RawHook = (frame: Uint8Array, to: HostileLink) => Uint8Array;

/** One client's link through the hostile relay. */
export class HostileLink {
  /** The agent this client authenticated as (from its Auth envelope). */
  agent: string | undefined;
  private upstream: LinkCodec | undefined;
  private upstreamBinding: Uint8Array = new Uint8Array(0);
  private readonly queuedUp: Envelope[] = [];

  constructor(
    private readonly relay: HostileRelay,
    private readonly client: WebSocket,
    private readonly codec: LinkCodec,
    private readonly inner: WebSocket,
  ) {}

  /** The inner link is ready: what the client sent meanwhile goes out in order. */
  ready(codec: LinkCodec, binding: Uint8Array): void {
    this.upstream = codec;
    this.upstreamBinding = binding;
    for (const e of this.queuedUp.splice(0)) this.toRelay(e);
  }

  fromClient(data: RawData): void {
    // Nothing for client cover.
    for (const e of this.codec.read(toBytes(data))) {
      if (e.type === "Auth") this.agent = e.agent;
      for (const out of this.relay.hooks.up?.(e, this) ?? [e]) this.toRelay(out);
    }
  }

  fromRelay(data: RawData): void {
    for (const e of this.upstream?.read(toBytes(data)) ?? []) {
      for (const out of this.relay.hooks.down?.(e, this) ?? [e]) this.toClient(out);
    }
  }

  /** Sends an envelope to the client, sealed under the client's link keys. */
  toClient(e: Envelope): void {
    if (this.client.readyState !== WebSocket.OPEN) return;
    for (const piece of this.codec.pieces(e)) {
      const frame = this.codec.seal(piece);
      this.client.send(this.relay.hooks.raw?.(frame, this) ?? frame);
    }
  }

  /** Sends an envelope to the inner relay, as this client. */
  toRelay(e: Envelope): void {
    if (this.upstream === undefined) {
      this.queuedUp.push(e);
      return;
    }
    if (this.inner.readyState !== WebSocket.OPEN) return;
    const sent = e.type === "Auth" ? { ...e, signature: testIdentity(e.agent).sign(linkAuthBytes(this.upstreamBinding, e.agent)) } : e;
    for (const piece of this.upstream.pieces(sent)) this.inner.send(this.upstream.seal(piece));
  }

  close(): void {
    this.client.terminate();
    this.inner.terminate();
  }
}

export interface Hooks {
  up?: Hook;
  down?: Hook;
  raw?: RawHook;
}

export class HostileRelay {
  /** Set and clear freely during a test; unset means "behave". */
  hooks: Hooks = {};
  readonly links = new Set<HostileLink>();
  readonly key: StaticKeyPair = generateStaticKeyPair();

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly innerUrl: string,
    private readonly innerKey: Uint8Array,
  ) {
    wss.on("connection", (ws) => this.accept(ws));
    wss.on("headers", (headers) => headers.push(`${LINK_REVISION_HEADER}: ${LINK_REVISION}`));
  }

  /** Listens on 127.0.0.1 (a free port) in front of the relay at `innerUrl` with key `innerKey`. */
  static async start(innerUrl: string, innerKey: Uint8Array): Promise<HostileRelay> {
    const http = createServer();
    const wss = new WebSocketServer({ server: http, path: "/v1/link", perMessageDeflate: false });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    return new HostileRelay(http, wss, innerUrl, innerKey);
  }

  get url(): string {
    return `ws://127.0.0.1:${(this.http.address() as AddressInfo).port}`;
  }

  /** Behave again. */
  behave(): void {
    this.hooks = {};
  }

  /** The live links of one agent. */
  linksOf(agent: string): HostileLink[] {
    return [...this.links].filter((l) => l.agent === agent);
  }

  /** Cuts every link (clients reconnect and resume from their cursors). */
  dropLinks(): void {
    for (const l of this.links) l.close();
  }

  private accept(client: WebSocket): void {
    client.once("message", (hello: RawData) => {
      let reply: ReturnType<typeof respondToHello>;
      try {
        reply = respondToHello(toBytes(hello), this.key);
      } catch {
        client.terminate();
        return;
      }
      client.send(reply.reply);
      const inner = new WebSocket(`${this.innerUrl}/v1/link`, { perMessageDeflate: false, headers: { [LINK_REVISION_HEADER]: String(LINK_REVISION) } });
      inner.binaryType = "nodebuffer";
      const link = new HostileLink(this, client, new LinkCodec(reply.keys), inner);
      this.links.add(link);
      const handshake = new ClientHandshake(this.innerKey);
      inner.on("open", () => inner.send(handshake.hello));
      inner.once("message", (answer: RawData) => {
        const keys = handshake.finish(toBytes(answer));
        link.ready(new LinkCodec(keys), keys.binding);
        inner.on("message", (data: RawData) => link.fromRelay(data));
      });
      client.on("message", (data: RawData) => link.fromClient(data));
      const end = () => {
        this.links.delete(link);
        link.close();
      };
      client.on("close", end);
      inner.on("close", end);
      client.on("error", end);
      inner.on("error", end);
    });
  }

  async close(): Promise<void> {
    for (const l of this.links) l.close();
    this.wss.close();
    await new Promise<void>((resolve) => this.http.close(() => resolve()));
  }
}

function toBytes(data: RawData): Uint8Array {
  if (Array.isArray(data)) return Buffer.concat(data);
  return data instanceof ArrayBuffer ? new Uint8Array(data) : data;
}
