import { isIP } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { COVER_MODES, DEFAULT_COVER, MAX_COVER_RATE, type CoverConfig, type CoverMode } from "../wire/cover.js";
import type { NatsOptions } from "./jetstream/streams.js";
import { PREFIX_PATTERN } from "./jetstream/subjects.js";

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

/** Where the relay keeps its archive: an embedded SQLite file, or NATS JetStream shared by relay nodes. */
export type StoreConfig = { readonly kind: "sqlite" } | ({ readonly kind: "nats" } & NatsOptions);

export interface RelayConfig {
  readonly host: string;
  readonly port: number;
  readonly dataDir: string;
  /** Default: SQLite in the data dir. */
  readonly store?: StoreConfig;
  /** The relay's static key from this file (32 bytes, shared by every node of one relay); default: made in the data dir. */
  readonly keyFile?: string | undefined;
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
  --cover MODE            off | poisson | constant (default poisson)
  --cover-rate N          cover frames per second per connection (poisson mean / constant rate)
  --retention-days N      archive retention (default 7)
  --max-channel-mb N      archive size cap per channel (default 64)
  --durability MODE       normal | full: fsync every append with full (default normal)
  --nats URLS             keep the archive in NATS JetStream instead of SQLite, e.g.
                          nats://h1:4222,nats://h2:4222 (env SKYTALE_RELAY_NATS): any number of
                          relay nodes on one NATS cluster act as one relay (nats-server 2.10+)
  --nats-replicas N       replicas of the streams the relay creates (default 3 on a cluster, else 1)
  --nats-prefix NAME      names of the streams and subjects (default SKYTALE)
  --nats-creds FILE       NATS credentials file, if the servers require one
  --key-file FILE         the relay's static key (32 bytes), the same file on every node; required
                          with --nats (env SKYTALE_RELAY_KEY_FILE; default: relay.key in the data dir)
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

/** The store from --nats and its options (or their environment equivalents); SQLite without them. */
function storeConfig(values: Record<string, string | undefined>, env: NodeJS.ProcessEnv): StoreConfig {
  const urls = values.nats ?? (env.SKYTALE_RELAY_NATS?.trim() || undefined);
  const prefix = values["nats-prefix"] ?? env.SKYTALE_RELAY_NATS_PREFIX ?? "SKYTALE";
  const replicasText = values["nats-replicas"] ?? env.SKYTALE_RELAY_NATS_REPLICAS;
  const credsFile = values["nats-creds"] ?? (env.SKYTALE_RELAY_NATS_CREDS?.trim() || undefined);
  if (urls === undefined) {
    if (values["nats-replicas"] !== undefined || values["nats-prefix"] !== undefined || values["nats-creds"] !== undefined) {
      throw new ConfigError("--nats-replicas, --nats-prefix and --nats-creds need --nats");
    }
    return { kind: "sqlite" };
  }
  const servers = urls.split(",").map((u) => u.trim());
  for (const server of servers) {
    if (!/^(nats|tls):\/\/[^\s/?#]+$/.test(server)) throw new ConfigError(`--nats takes nats:// (or tls://) URLs separated by commas, got '${server}'`);
  }
  if (!PREFIX_PATTERN.test(prefix)) throw new ConfigError(`--nats-prefix must be 1-32 letters, digits, '-' or '_', got '${prefix}'`);
  let replicas: number | undefined;
  if (replicasText !== undefined) {
    replicas = Number(replicasText);
    if (!Number.isInteger(replicas) || replicas < 1 || replicas > 5) throw new ConfigError("--nats-replicas must be 1-5 (JetStream's limit)");
  }
  return { kind: "nats", servers, prefix, replicas, credsFile };
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
      "retention-days": { type: "string" },
      "max-channel-mb": { type: "string" },
      durability: { type: "string" },
      "max-connections": { type: "string" },
      "max-channels": { type: "string" },
      "frames-per-second": { type: "string" },
      "max-inbox": { type: "string" },
      nats: { type: "string" },
      "nats-replicas": { type: "string" },
      "nats-prefix": { type: "string" },
      "nats-creds": { type: "string" },
      "key-file": { type: "string" },
    },
  });
  const host = values.host ?? env.SKYTALE_RELAY_HOST ?? "127.0.0.1";
  const authSecret = values["auth-secret"] ?? env.SKYTALE_RELAY_SECRET ?? undefined;
  if (!isLoopback(host) && !authSecret) {
    throw new ConfigError(`refusing to listen on ${host} without --auth-secret (or SKYTALE_RELAY_SECRET): anyone could use this relay`);
  }
  const mode = (values.cover ?? env.SKYTALE_RELAY_COVER ?? "poisson") as CoverMode;
  if (!COVER_MODES.includes(mode)) throw new ConfigError(`--cover must be one of ${COVER_MODES.join(", ")}`);
  const rate = positive("--cover-rate", values["cover-rate"], DEFAULT_COVER[mode].rate, true);
  if (rate > MAX_COVER_RATE) throw new ConfigError(`--cover-rate is capped at ${MAX_COVER_RATE}`);
  const durability = values.durability ?? "normal";
  if (durability !== "normal" && durability !== "full") throw new ConfigError("--durability must be normal or full");
  const port = positive("--port", values.port ?? env.SKYTALE_RELAY_PORT, 8787, true);
  if (!Number.isInteger(port) || port > 65535) throw new ConfigError("--port must be 0-65535");
  const keyFile = values["key-file"] ?? (env.SKYTALE_RELAY_KEY_FILE?.trim() || undefined);
  const store = storeConfig(values, env);
  if (store.kind === "nats" && keyFile === undefined) {
    throw new ConfigError("with --nats every relay node must present the same key: give each the same --key-file (32 random bytes, e.g. made with: umask 077; head -c 32 /dev/urandom > relay.key)");
  }
  return {
    host,
    port,
    dataDir: values["data-dir"] ?? env.SKYTALE_RELAY_DATA_DIR ?? join(homedir(), ".skytale", "relay"),
    store,
    keyFile,
    authSecret,
    cover: { mode, rate },
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
