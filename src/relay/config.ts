import { isIP } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BUCKETS } from "../wire/buckets.js";
import { cellOf, COVER_MODES, coverProblem, DEFAULT_COVER, type CoverConfig, type CoverMode } from "../wire/cover.js";

export interface RelayLimits {
  readonly maxConnections: number;
  readonly maxChannelsPerConnection: number;
  /** Per connection; a frame costs one per envelope piece it carries (cover frames cost one). */
  readonly framesPerSecond: number;
  readonly bytesPerSecond: number;
  readonly maxInboxItems: number;
  /** Bytes waiting in a socket's send buffer before a slow reader is dropped (it resumes later). */
  readonly maxBufferedBytes: number;
  /** Handshake and Auth must complete within this. */
  readonly authTimeoutMs: number;
}

export interface RelayConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  readonly authSecret: string | undefined;
  readonly cover: CoverConfig;
  readonly retentionDays: number;
  readonly maxChannelBytes: number;
  readonly durability: "normal" | "full";
  readonly limits: RelayLimits;
}

export const DEFAULT_LIMITS: RelayLimits = {
  maxConnections: 10_000,
  maxChannelsPerConnection: 4_096,
  framesPerSecond: 5_000,
  bytesPerSecond: 64 * 1024 * 1024,
  maxInboxItems: 1_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  authTimeoutMs: 10_000,
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export const RELAY_USAGE = `usage: skytale-mcp relay [options]

  --host HOST             address to listen on (default 127.0.0.1)
  --port PORT             port (default 8787; 0 picks a free one)
  --data-dir DIR          archive, inboxes and the relay key (default ~/.skytale/relay)
  --auth-secret SECRET    HS256 secret for bearer tokens (env SKYTALE_RELAY_SECRET);
                          required unless listening on loopback only
  --cover MODE            off | poisson | constant (default poisson): paces every link's
                          frames to the schedule below, real data in place of cover
  --cover-rate N          frames per second to each connection (poisson mean / constant
                          rate; default 8 for poisson, 32 for constant)
  --cover-cell BYTES      size of every frame: ${BUCKETS.join(", ")} (default 1024)
  --retention-days N      archive retention (default 7)
  --max-channel-mb N      archive size cap per channel (default 64)
  --durability MODE       normal | full: fsync every append with full (default normal)
  --max-connections N     (default ${DEFAULT_LIMITS.maxConnections})
  --max-channels N        channels per connection (default ${DEFAULT_LIMITS.maxChannelsPerConnection})
  --frames-per-second N   per connection, counting each envelope of a frame (default ${DEFAULT_LIMITS.framesPerSecond})
  --max-inbox N           pending inbox items per agent (default ${DEFAULT_LIMITS.maxInboxItems})`;

function positive(name: string, value: string | undefined, fallback: number, allowZero = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0 || (!allowZero && n === 0)) throw new ConfigError(`${name} must be a ${allowZero ? "non-negative" : "positive"} number, got '${value}'`);
  return n;
}

export function isLoopback(host: string): boolean {
  return host === "localhost" || host === "::1" || (isIP(host) === 4 && host.startsWith("127."));
}

/** Reads flags (and their environment equivalents) into a checked RelayConfig. */
export function parseRelayConfig(argv: string[], env: NodeJS.ProcessEnv = process.env): RelayConfig {
  const { values } = parseArgs({
    args: argv,
    strict: true,
    options: {
      host: { type: "string" },
      port: { type: "string" },
      "data-dir": { type: "string" },
      "auth-secret": { type: "string" },
      cover: { type: "string" },
      "cover-rate": { type: "string" },
      "cover-cell": { type: "string" },
      "retention-days": { type: "string" },
      "max-channel-mb": { type: "string" },
      durability: { type: "string" },
      "max-connections": { type: "string" },
      "max-channels": { type: "string" },
      "frames-per-second": { type: "string" },
      "max-inbox": { type: "string" },
    },
  });
  const host = values.host ?? env.SKYTALE_RELAY_HOST ?? "127.0.0.1";
  const authSecret = values["auth-secret"] ?? env.SKYTALE_RELAY_SECRET ?? undefined;
  if (!isLoopback(host) && !authSecret) {
    throw new ConfigError(`refusing to listen on ${host} without --auth-secret (or SKYTALE_RELAY_SECRET): anyone could use this relay`);
  }
  const mode = (values.cover ?? env.SKYTALE_RELAY_COVER ?? "poisson") as CoverMode;
  if (!COVER_MODES.includes(mode)) throw new ConfigError(`--cover must be one of ${COVER_MODES.join(", ")}`);
  const cover: CoverConfig =
    mode === "off"
      ? DEFAULT_COVER.off
      : { mode, rate: positive("--cover-rate", values["cover-rate"], DEFAULT_COVER[mode].rate), cell: positive("--cover-cell", values["cover-cell"], cellOf(DEFAULT_COVER[mode])) };
  const coverError = coverProblem(cover);
  if (coverError !== undefined) throw new ConfigError(`--cover: ${coverError}`);
  const durability = values.durability ?? "normal";
  if (durability !== "normal" && durability !== "full") throw new ConfigError("--durability must be normal or full");
  const port = positive("--port", values.port ?? env.SKYTALE_RELAY_PORT, 8787, true);
  if (!Number.isInteger(port) || port > 65535) throw new ConfigError("--port must be 0-65535");
  return {
    host,
    port,
    dataDir: values["data-dir"] ?? env.SKYTALE_RELAY_DATA_DIR ?? join(homedir(), ".skytale", "relay"),
    authSecret,
    cover,
    retentionDays: positive("--retention-days", values["retention-days"], 7),
    maxChannelBytes: positive("--max-channel-mb", values["max-channel-mb"], 64) * 1024 * 1024,
    durability,
    limits: {
      ...DEFAULT_LIMITS,
      maxConnections: positive("--max-connections", values["max-connections"], DEFAULT_LIMITS.maxConnections),
      maxChannelsPerConnection: positive("--max-channels", values["max-channels"], DEFAULT_LIMITS.maxChannelsPerConnection),
      framesPerSecond: positive("--frames-per-second", values["frames-per-second"], DEFAULT_LIMITS.framesPerSecond),
      maxInboxItems: positive("--max-inbox", values["max-inbox"], DEFAULT_LIMITS.maxInboxItems),
    },
  };
}
