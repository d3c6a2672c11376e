/**
 * The MCP server of one agent over Streamable HTTP, for hosts that connect to servers by URL. The
 * same tools as on stdio, one MCP session per client (all on the one agent), at /mcp.
 *
 * Who may talk to it: on loopback, anything on this machine, so requests must name a loopback
 * Host and Origin (a web page that rebinds a DNS name to 127.0.0.1 cannot use it); anywhere else
 * only with SKYTALE_MCP_SECRET, sent by clients as `Authorization: Bearer <secret>`.
 */
import { createHash, randomUUID, timingSafeEqual } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { ChannelService } from "../agent/types.js";
import { stderrLog } from "./context.js";
import { createServer, type CreateServerOptions } from "./server.js";

export const DEFAULT_HTTP_PORT = 8790;
export const MCP_PATH = "/mcp";
/** Sessions kept at once; past it the least recently used one is closed (its client starts a new one). */
const MAX_SESSIONS = 32;
/** The largest request body read: a Welcome (1 MiB as base64url) plus room. */
const MAX_BODY_BYTES = 2 * 1024 * 1024;
const LOOPBACK_NAMES = new Set(["localhost", "127.0.0.1", "[::1]"]);
/** Addresses to listen on that only this machine reaches. */
const LOOPBACK_ADDRESS = /^(localhost|::1|127(\.\d{1,3}){3})$/;

export interface HttpServerOptions extends CreateServerOptions {
  /** Default 127.0.0.1. Anything but loopback requires `secret`. */
  readonly host?: string;
  /** Default DEFAULT_HTTP_PORT; 0 picks a free one. */
  readonly port?: number;
  /** Bearer secret every request must carry; required off loopback. */
  readonly secret?: string;
}

export interface HttpServer {
  /** Where clients connect, e.g. http://127.0.0.1:8790/mcp. */
  readonly url: string;
  /** Ends every session and stops listening; the service stays open (its owner closes it). */
  close(): Promise<void>;
}

/** Thrown for a configuration the server refuses to run with. */
export class HttpConfigError extends Error {
  override readonly name = "HttpConfigError";
}

interface Session {
  readonly transport: StreamableHTTPServerTransport;
  readonly server: McpServer;
}

/** Serves `service`'s MCP server over Streamable HTTP until close(). */
export async function runHttpServer(service: ChannelService, options: HttpServerOptions = {}): Promise<HttpServer> {
  const host = options.host ?? "127.0.0.1";
  const loopback = LOOPBACK_ADDRESS.test(host);
  const secret = options.secret === undefined || options.secret === "" ? undefined : digest(options.secret);
  if (!loopback && secret === undefined) {
    throw new HttpConfigError(`refusing to serve MCP on ${host} without SKYTALE_MCP_SECRET: anyone who can reach it could act as this agent`);
  }
  const log = options.log ?? stderrLog;
  // Names a request may call this server by when no secret guards it: loopback ones, and the address it listens on.
  const names = new Set([...LOOPBACK_NAMES, host.includes(":") ? `[${host.toLowerCase()}]` : host.toLowerCase()]);
  const sessions = new Map<string, Session>();

  const open = async (): Promise<Session> => {
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      maxRequestBodySize: MAX_BODY_BYTES,
      onsessioninitialized: (id) => {
        sessions.set(id, session);
        if (sessions.size > MAX_SESSIONS) void closeSession(sessions.keys().next().value as string);
      },
    });
    const server = createServer(service, { ...options, log });
    const session: Session = { transport, server };
    transport.onclose = () => {
      if (transport.sessionId !== undefined) sessions.delete(transport.sessionId);
    };
    await server.connect(transport);
    return session;
  };
  const closeSession = async (id: string) => {
    const session = sessions.get(id);
    sessions.delete(id);
    await session?.server.close().catch(() => undefined);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const refusal = refuse(req, loopback ? names : undefined, secret);
    if (refusal !== undefined) return reply(res, refusal.status, refusal.text, refusal.status === 401 ? { "www-authenticate": "Bearer" } : {});
    const id = req.headers["mcp-session-id"];
    if (typeof id === "string") {
      const session = sessions.get(id);
      if (session === undefined) return reply(res, 404, "unknown MCP session; start a new one", {}, true);
      // Most recently used last: the first entry is the one to close when there are too many.
      sessions.delete(id);
      sessions.set(id, session);
      return session.transport.handleRequest(req, res);
    }
    // No session yet: only an initialize request opens one; for anything else the transport
    // answers the error and the unused session goes.
    const session = await open();
    await session.transport.handleRequest(req, res);
    if (session.transport.sessionId === undefined) await session.server.close().catch(() => undefined);
  };

  const http = createHttpServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`skytale-mcp: HTTP request failed: ${error instanceof Error ? error.message : String(error)}`);
      if (!res.headersSent) reply(res, 500, "internal error");
      else res.end();
    });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? DEFAULT_HTTP_PORT, host, () => resolve());
  });
  const { port } = http.address() as AddressInfo;
  const url = `http://${host.includes(":") ? `[${host}]` : host}:${port}${MCP_PATH}`;
  log(`skytale-mcp: agent '${service.identity.name}' serving MCP at ${url}${secret === undefined ? "" : " (bearer secret required)"}`);
  return {
    url,
    async close() {
      await Promise.all([...sessions.keys()].map(closeSession));
      const closed = new Promise<void>((resolve) => http.close(() => resolve()));
      http.closeAllConnections();
      await closed;
    },
  };
}

/** Why a request may not reach the MCP server, if it may not. */
function refuse(req: IncomingMessage, loopbackNames: ReadonlySet<string> | undefined, secret: Buffer | undefined): { status: number; text: string } | undefined {
  if (new URL(req.url ?? "/", "http://x").pathname !== MCP_PATH) return { status: 404, text: `not found; MCP is at ${MCP_PATH}` };
  if (secret !== undefined) {
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    if (given === undefined || !timingSafeEqual(digest(given), secret)) return { status: 401, text: "a valid Authorization: Bearer <SKYTALE_MCP_SECRET> header is required" };
  }
  if (loopbackNames !== undefined && secret === undefined) {
    if (!loopbackNames.has(hostname(req.headers.host ?? ""))) return { status: 403, text: "only loopback Host names are served without a secret" };
    const origin = req.headers.origin;
    if (origin !== undefined && !loopbackNames.has(originHost(origin))) return { status: 403, text: "requests from web pages of other origins are refused" };
  }
  return undefined;
}

/** Digests compare in constant time whatever the lengths. */
function digest(text: string): Buffer {
  return createHash("sha256").update(text).digest();
}

/** "127.0.0.1:8790" → "127.0.0.1"; "[::1]:8790" → "[::1]". */
function hostname(hostHeader: string): string {
  return hostHeader.toLowerCase().replace(/:\d+$/, "");
}

function originHost(origin: string): string {
  try {
    return new URL(origin).hostname.toLowerCase();
  } catch {
    return "";
  }
}

function reply(res: ServerResponse, status: number, text: string, headers: Record<string, string> = {}, jsonRpc = false): void {
  const body = jsonRpc ? JSON.stringify({ jsonrpc: "2.0", error: { code: -32001, message: text }, id: null }) : `${text}\n`;
  res.writeHead(status, { "content-type": jsonRpc ? "application/json" : "text/plain; charset=utf-8", ...headers });
  res.end(body);
}
