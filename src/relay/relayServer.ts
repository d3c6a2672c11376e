import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { WebSocketServer } from "ws";
import type { Timers } from "../wire/cover.js";
import { LINK_CELLS_HEADER, LINK_REVISION, LINK_REVISION_HEADER, MIN_LINK_REVISION, peerRevision, peerSendsCells } from "../wire/linkRevision.js";
import type { StaticKeyPair } from "../wire/x25519.js";
import type { ChannelLog } from "./channelLog.js";
import { assertStrongSecret, type RelayConfig } from "./config.js";
import { RelayConnection } from "./connection.js";
import { RelayHandlers } from "./handlers.js";
import { LinkSlots } from "./linkSlots.js";
import { RelayMetrics } from "./metrics.js";
import { AdminServer } from "./adminServer.js";
import { ReplayBudget } from "./replayBudget.js";
import { Revocations } from "./revocations.js";
import { SendGate } from "./sendGate.js";
import { NatsChannelLog } from "./jetstream/natsChannelLog.js";
import { SqliteChannelLog } from "./sqliteChannelLog.js";
import { loadOrCreateRelayKey, loadRelayKeyFile } from "./staticKey.js";

export const LINK_PATH = "/v1/link";
export const KEY_PATH = "/v1/key";
const MAX_FRAME_BYTES = 32768;
const PRUNE_INTERVAL_MS = 60 * 60 * 1000;

export interface RelayRuntime {
  /** A monotonic clock, ms (rate limits, reassembly timeouts, cover slots); performance.now by default. */
  readonly now?: () => number;
  readonly timers?: Timers;
  readonly random?: () => number;
  /** Where the relay reports what it does (never payloads, keys or tokens); stderr by default. */
  readonly log?: (line: string) => void;
  /** Storage; by default what the config says (SQLite in the data dir, or NATS JetStream). */
  readonly channelLog?: ChannelLog;
  /** The counters /metrics shows (a channelLog made outside reports into their `store`). */
  readonly metrics?: RelayMetrics;
}

/**
 * The relay: one HTTP server carrying the WebSocket link (/v1/link), the relay's public key
 * (/v1/key) and /healthz; /metrics only on the operator's port (adminServer.ts), if configured.
 */
export class Relay {
  private readonly pruneTimer: NodeJS.Timeout;
  /** Link slots: the budget of links that have not authenticated (what they hold), and authenticated ones. */
  readonly slots: LinkSlots;
  /** What replays hold (stats(): bytes now and at the peak, in all and per link), within a relay-wide budget. */
  readonly replays: ReplayBudget<RelayConnection>;

  private constructor(
    private readonly http: Server,
    private readonly wss: WebSocketServer,
    private readonly log: ChannelLog,
    readonly relayKey: StaticKeyPair,
    readonly metrics: RelayMetrics,
    readonly config: RelayConfig,
    private readonly connections: Set<RelayConnection>,
    private readonly revocations: Revocations,
    private readonly admin: AdminServer | undefined,
    private readonly report: (line: string) => void,
  ) {
    this.pruneTimer = setInterval(() => this.prune(), PRUNE_INTERVAL_MS);
    this.pruneTimer.unref();
    this.slots = new LinkSlots(config.limits);
    this.replays = new ReplayBudget(config.limits.maxReplayBytes);
  }

  /** Opens storage, loads (or makes) the relay key and starts listening. */
  static async start(config: RelayConfig, runtime: RelayRuntime = {}): Promise<Relay> {
    if (config.authSecret !== undefined) assertStrongSecret(config.authSecret);
    const report = runtime.log ?? ((line: string) => process.stderr.write(`skytale relay: ${line}\n`));
    const store = config.store ?? { kind: "sqlite" };
    if (store.kind === "sqlite" || config.keyFile === undefined) mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
    const relayKey = config.keyFile === undefined ? loadOrCreateRelayKey(config.dataDir) : loadRelayKeyFile(config.keyFile, report);
    const metrics = runtime.metrics ?? new RelayMetrics();
    const channelLog =
      runtime.channelLog ??
      (store.kind === "nats" ? await NatsChannelLog.open(store, { metrics: metrics.store, report }) : new SqliteChannelLog(config.dataDir, { durability: config.durability }));
    const connections = new Set<RelayConnection>();
    let revocations: Revocations;
    try {
      revocations = Revocations.open(config.revocationsFile, report, () => Relay.dropRevoked(connections, revocations, report));
    } catch (error) {
      if (runtime.channelLog === undefined) await channelLog.close();
      throw error;
    }
    let admin: AdminServer | undefined;
    try {
      admin = config.metrics === undefined ? undefined : await AdminServer.start(config.metrics, () => Relay.renderMetrics(metrics, channelLog));
    } catch (error) {
      revocations.close();
      if (runtime.channelLog === undefined) await channelLog.close();
      throw error;
    }
    const now = runtime.now ?? (() => performance.now());
    const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME_BYTES, perMessageDeflate: false });
    // Sockets that never finish their headers (a half-sent upgrade) go after a few seconds, not
    // Node's 60; the check runs every second instead of every 30.
    const headersTimeout = config.limits.httpHeadersTimeoutMs;
    const http = createServer({ headersTimeout, requestTimeout: headersTimeout * 2, connectionsCheckingInterval: Math.min(1000, headersTimeout) });
    const relay = new Relay(http, wss, channelLog, relayKey, metrics, config, connections, revocations, admin, report);
    const gate = new SendGate<RelayConnection>();
    const slots = relay.slots;
    const handlers = new RelayHandlers(channelLog, config, metrics, connections, report, revocations, gate, relay.replays);
    http.on("request", (req, res) => relay.serveHttp(req, res));
    wss.on("headers", (headers) => {
      headers.push(`${LINK_REVISION_HEADER}: ${LINK_REVISION}`);
      // With cover on, every frame to a client of revision 3 is a cell.
      if (config.cover.mode !== "off") headers.push(`${LINK_CELLS_HEADER}: 1`);
    });
    http.on("upgrade", (req, socket, head) => {
      if (req.url !== LINK_PATH) {
        socket.end("HTTP/1.1 404 Not Found\r\n\r\n");
        return;
      }
      const revision = peerRevision(req.headers[LINK_REVISION_HEADER]);
      if (revision < MIN_LINK_REVISION) {
        const why = `this relay speaks link revision ${LINK_REVISION} (agents are their identity keys); the client speaks ${revision}: upgrade skytale-mcp`;
        socket.end(`HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain\r\nContent-Length: ${Buffer.byteLength(why)}\r\nConnection: close\r\n\r\n${why}`);
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        if (slots.full) {
          ws.close(1013, "relay full");
          return;
        }
        const link = { peerSendsCells: peerSendsCells(revision, req.headers[LINK_CELLS_HEADER]) };
        const conn = new RelayConnection(ws, socket, { relayKey, limits: config.limits, cover: config.cover, metrics, gate, slots, now, ...link, ...optional(runtime) }, {
          onEnvelope: (c, e, bytes) => handlers.handle(c, e, bytes),
          onClose: (c) => {
            relay.connections.delete(c);
            handlers.forget(c);
            metrics.connections = relay.connections.size;
          },
        });
        relay.connections.add(conn);
        metrics.connections = relay.connections.size;
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        http.once("error", reject);
        http.listen(config.port, config.host, () => resolve());
      });
    } catch (error) {
      // A port in use must not leave the archive open or the revocation file watched.
      clearInterval(relay.pruneTimer);
      revocations.close();
      await admin?.close();
      wss.close();
      if (runtime.channelLog === undefined) await channelLog.close();
      throw error;
    }
    return relay;
  }

  /** The operator's metrics port, if it serves one. */
  get metricsPort(): number | undefined {
    return this.admin?.port;
  }

  /** The port actually bound (useful with port 0). */
  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  get url(): string {
    const host = this.config.host.includes(":") ? `[${this.config.host}]` : this.config.host;
    return `ws://${host}:${this.port}`;
  }

  /** Where the relay keeps its archive, for the operator. */
  get storage(): string {
    return this.log.description;
  }

  get publicKeyBase64(): string {
    return Buffer.from(this.relayKey.publicKey).toString("base64url");
  }

  /** Stops accepting, closes every link (clients resume elsewhere or later) and the storage. */
  async close(): Promise<void> {
    clearInterval(this.pruneTimer);
    this.revocations.close();
    await this.admin?.close();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    for (const conn of [...this.connections]) conn.close(1001, "relay shutting down");
    this.wss.close();
    this.http.closeAllConnections();
    await closed;
    await this.log.close();
  }

  /** GET /metrics, also while the store is down (that is when it is needed), then without the archive's gauges. */
  private static renderMetrics(metrics: RelayMetrics, log: ChannelLog): Promise<string> {
    return log.stats().then(
      (stats) => metrics.render(stats, log.health().ok),
      () => metrics.render(undefined, false),
    );
  }

  /** Drops the links whose token the revocation file now revokes (they are refused on reconnect). */
  private static dropRevoked(connections: ReadonlySet<RelayConnection>, revocations: Revocations, report: (line: string) => void): void {
    for (const conn of [...connections]) {
      const token = conn.token;
      if (token === undefined || !revocations.revokes(token)) continue;
      report(`dropped a link of '${token.sub}': its token was revoked`);
      conn.close(1008, "token revoked");
    }
  }

  private prune(): void {
    this.log.prune(Date.now(), this.config.retentionDays * 24 * 3600 * 1000, this.config.maxChannelBytes).catch((error: unknown) => {
      this.report(`retention pass failed (the next one runs in an hour): ${(error as Error).message}`);
    });
  }

  private serveHttp(req: IncomingMessage, res: ServerResponse): void {
    const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET") return reply(405, "method not allowed\n");
    switch (req.url) {
      case "/healthz": {
        const health = this.log.health();
        return reply(health.ok ? 200 : 503, `${health.ok ? "ok" : "unavailable"}\n${health.detail}\n`);
      }
      case KEY_PATH:
        return reply(200, `${this.publicKeyBase64}\n`);
      default:
        return reply(404, "not found\n");
    }
  }
}

function optional(runtime: RelayRuntime): { timers?: Timers; random?: () => number } {
  return { ...(runtime.timers ? { timers: runtime.timers } : {}), ...(runtime.random ? { random: runtime.random } : {}) };
}
