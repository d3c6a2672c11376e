import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The operator's port: GET /metrics (Prometheus). It is not on the link's port, where anyone who
 * can reach the relay would read from its counters when agents talk, and it listens on loopback
 * unless a bearer secret guards it. What it renders never tells real traffic from cover.
 */
export interface AdminConfig {
  readonly host: string;
  readonly port: number;
  /** Bearer secret; required off loopback. */
  readonly secret: string | undefined;
}

const digest = (text: string) => createHash("sha256").update(text).digest();
const HEADER_TIMEOUT_MS = 5_000;

export class AdminServer {
  private constructor(private readonly http: Server) {}

  static async start(config: AdminConfig, render: () => Promise<string>): Promise<AdminServer> {
    const secret = config.secret === undefined ? undefined : digest(config.secret);
    const http = createServer({ headersTimeout: HEADER_TIMEOUT_MS, requestTimeout: HEADER_TIMEOUT_MS }, (req, res) => serve(req, res, secret, render));
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(config.port, config.host, () => resolve());
    });
    return new AdminServer(http);
  }

  get port(): number {
    return (this.http.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    await closed;
  }
}

function serve(req: IncomingMessage, res: ServerResponse, secret: Buffer | undefined, render: () => Promise<string>): void {
  const reply = (status: number, body: string, type = "text/plain; charset=utf-8") => {
    res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
    res.end(body);
  };
  if (secret !== undefined) {
    const given = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    // Compared as digests, in constant time: neither the secret nor its length leaks.
    if (given === undefined || !timingSafeEqual(digest(given), secret)) return reply(401, "a valid Authorization: Bearer <metrics secret> header is required\n");
  }
  if (req.method !== "GET") return reply(405, "method not allowed\n");
  if (req.url !== "/metrics") return reply(404, "not found\n");
  render().then(
    (text) => reply(200, text, "text/plain; version=0.0.4"),
    () => reply(500, "metrics are unavailable\n"),
  );
}
