import { isIP } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { BUCKETS } from "../wire/buckets.js";
import { cellOf, COVER_MODES, coverProblem, DEFAULT_COVER, type CoverConfig, type CoverMode } from "../wire/cover.js";
import type { AdminConfig } from "./adminServer.js";
import { readSecretFile, SECRET_ADVICE, secretWeakness } from "./authSecret.js";
import type { NatsOptions } from "./jetstream/streams.js";
import { PREFIX_PATTERN } from "./jetstream/subjects.js";
import type { QuotaLimits } from "./quotas.js";

export interface RelayLimits {
  /** Authenticated links; a link takes one at Auth (linkSlots.ts). */
  readonly maxConnections: number;
  /** Links that have not authenticated yet, a budget of their own: the oldest makes room for a new one. */
  readonly maxPreAuthLinks: number;
  readonly maxChannelsPerConnection: number;
  /** Per connection; a frame costs one per envelope piece it carries (cover frames cost one). */
  readonly framesPerSecond: number;
  readonly bytesPerSecond: number;
  readonly maxInboxItems: number;
  /** Bytes waiting in a socket's send buffer before a slow reader is dropped (it resumes later). */
  readonly maxBufferedBytes: number;
  /** Handshake and Auth must complete within this, or the link is closed. */
  readonly authTimeoutMs: number;
  /** An HTTP request's headers (a WebSocket upgrade's too) must arrive within this. */
  readonly httpHeadersTimeoutMs: number;
  /** Bytes all replays (channels and inboxes) may hold at once: read, and not yet out of the relay's buffers. */
  readonly maxReplayBytes: number;
  /** Bytes one replay batch reads (a link replays one batch at a time); at most a quarter of maxBufferedBytes. */
  readonly replayBatchBytes: number;
  /** A replay batch that has not left the relay's buffers for its link within this drops the link as too slow. */
  readonly replayStallMs: number;
  /** Per authenticated identity, per period, per relay node (quotas.ts). */
  readonly quotas: QuotaLimits;
  /** Of maxInboxItems, the places relay-through items never take: kept for Welcomes. */
  readonly inboxWelcomeReserve: number;
  /** Relay-through items of one sender that may wait in one inbox at once. */
  readonly maxInboxPerSender: number;
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
  /** Signs and checks bearer tokens; strong (authSecret.ts) when set. */
  readonly authSecret: string | undefined;
  /** Revoked tokens (revocations.ts), read on start and whenever the file changes. */
  readonly revocationsFile?: string | undefined;
  /** Where GET /metrics is served; nowhere when undefined (it is never on the link's port). */
  readonly metrics?: AdminConfig | undefined;
  readonly cover: CoverConfig;
  readonly retentionDays: number;
  readonly maxChannelBytes: number;
  readonly durability: "normal" | "full";
  readonly limits: RelayLimits;
}

export const DEFAULT_LIMITS: RelayLimits = {
  maxConnections: 10_000,
  maxPreAuthLinks: 512,
  maxChannelsPerConnection: 4_096,
  framesPerSecond: 5_000,
  bytesPerSecond: 64 * 1024 * 1024,
  maxInboxItems: 1_000,
  maxBufferedBytes: 16 * 1024 * 1024,
  authTimeoutMs: 3_000,
  httpHeadersTimeoutMs: 5_000,
  maxReplayBytes: 32 * 1024 * 1024,
  replayBatchBytes: 1024 * 1024,
  replayStallMs: 30_000,
  quotas: {
    periodMs: 3_600_000,
    channelsOpened: 500,
    archiveBytes: 256 * 1024 * 1024,
    inboxItems: 1_000,
    inboxBytes: 64 * 1024 * 1024,
    welcomeRecipients: 2_000,
    keyPackagesTaken: 1_000,
  },
  inboxWelcomeReserve: 250,
  maxInboxPerSender: 50,
};

export class ConfigError extends Error {
  override readonly name = "ConfigError";
}

export const RELAY_USAGE = `usage: skytale-mcp relay [options]

  --host HOST             address to listen on (default 127.0.0.1)
  --port PORT             port (default 8787; 0 picks a free one)
  --data-dir DIR          archive, inboxes and the relay key (default <SKYTALE_HOME>/relay,
                          i.e. ~/.skytale/relay)
  --auth-secret-file F    HS256 secret for bearer tokens, the first line of F (or env
                          SKYTALE_RELAY_SECRET); at least 32 random characters
                          (openssl rand -hex 32); required unless listening on loopback only
  --auth-secret SECRET    the same on the command line, where every local user can read it
                          with ps: prefer the file or the variable
  --revocations F         revoked tokens, one 'id <token id>' or 'sub <name> <unix time>' a
                          line (skytale-mcp revoke writes them; env SKYTALE_RELAY_REVOCATIONS);
                          reread when it changes, and links of revoked tokens are dropped
  --metrics-port PORT     serve GET /metrics (Prometheus) on this port, apart from the link's
                          (default: not served)
  --metrics-host HOST     its address (default 127.0.0.1); any other needs a metrics secret
  --metrics-secret-file F bearer secret scrapers must send (env SKYTALE_RELAY_METRICS_SECRET)
  --cover MODE            off | poisson | constant (default poisson): paces every link's
                          frames to the schedule below, real data in place of cover
  --cover-rate N          frames per second to each connection (poisson mean / constant
                          rate; default 8 for poisson, 32 for constant)
  --cover-cell BYTES      size of every frame: ${BUCKETS.join(", ")} (default 1024)
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
  --max-connections N     authenticated links (default ${DEFAULT_LIMITS.maxConnections})
  --max-preauth N         links still in their handshake or Auth, apart from those; when full,
                          the oldest is closed to make room (default ${DEFAULT_LIMITS.maxPreAuthLinks})
  --auth-timeout-ms MS    a link must authenticate within this, or it is closed (default ${DEFAULT_LIMITS.authTimeoutMs})
  --max-channels N        channels per connection (default ${DEFAULT_LIMITS.maxChannelsPerConnection})
  --frames-per-second N   per connection, counting each envelope of a frame (default ${DEFAULT_LIMITS.framesPerSecond})
  --max-inbox N           pending inbox items per agent (default ${DEFAULT_LIMITS.maxInboxItems})
  --max-replay-mb N       bytes all replays of channels and inboxes may hold at once, read and not
                          yet sent; each link replays one batch of at most 1 MiB at a time (default ${DEFAULT_LIMITS.maxReplayBytes / 1024 / 1024})

  quotas per authenticated identity, counted by each relay node apart, reset every period:
  --quota-period-s N      the period (default ${DEFAULT_LIMITS.quotas.periodMs / 1000})
  --quota-channels N      channels opened (default ${DEFAULT_LIMITS.quotas.channelsOpened})
  --quota-archive-mb N    MiB archived, a Welcome counted once per recipient (default ${DEFAULT_LIMITS.quotas.archiveBytes / 1024 / 1024})
  --quota-inbox-items N   relay-through items sent to other agents' inboxes (default ${DEFAULT_LIMITS.quotas.inboxItems})
  --quota-inbox-mb N      MiB of those items (default ${DEFAULT_LIMITS.quotas.inboxBytes / 1024 / 1024})
  --quota-welcomes N      recipients named by Welcomes (default ${DEFAULT_LIMITS.quotas.welcomeRecipients})
  --quota-key-packages N  key packages taken from other agents' directories (default ${DEFAULT_LIMITS.quotas.keyPackagesTaken})
  --inbox-reserve N       places of an inbox kept for Welcomes: relay-through items (join
                          requests and replies...) never take them (default ${DEFAULT_LIMITS.inboxWelcomeReserve},
                          or a quarter of --max-inbox if less)
  --max-inbox-per-sender N  relay-through items of one sender waiting in one inbox (default ${DEFAULT_LIMITS.maxInboxPerSender})`;

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
      "auth-secret-file": { type: "string" },
      revocations: { type: "string" },
      "metrics-port": { type: "string" },
      "metrics-host": { type: "string" },
      "metrics-secret-file": { type: "string" },
      cover: { type: "string" },
      "cover-rate": { type: "string" },
      "cover-cell": { type: "string" },
      "retention-days": { type: "string" },
      "max-channel-mb": { type: "string" },
      durability: { type: "string" },
      "max-connections": { type: "string" },
      "max-preauth": { type: "string" },
      "auth-timeout-ms": { type: "string" },
      "max-channels": { type: "string" },
      "frames-per-second": { type: "string" },
      "max-inbox": { type: "string" },
      "max-replay-mb": { type: "string" },
      nats: { type: "string" },
      "nats-replicas": { type: "string" },
      "nats-prefix": { type: "string" },
      "nats-creds": { type: "string" },
      "key-file": { type: "string" },
      "quota-period-s": { type: "string" },
      "quota-channels": { type: "string" },
      "quota-archive-mb": { type: "string" },
      "quota-inbox-items": { type: "string" },
      "quota-inbox-mb": { type: "string" },
      "quota-welcomes": { type: "string" },
      "quota-key-packages": { type: "string" },
      "inbox-reserve": { type: "string" },
      "max-inbox-per-sender": { type: "string" },
    },
  });
  const host = values.host ?? env.SKYTALE_RELAY_HOST ?? "127.0.0.1";
  const authSecret = relaySecret(values["auth-secret"], values["auth-secret-file"], env);
  if (!isLoopback(host) && !authSecret) {
    throw new ConfigError(`refusing to listen on ${host} without --auth-secret-file (or SKYTALE_RELAY_SECRET): anyone could use this relay`);
  }
  const revocationsFile = values.revocations ?? (env.SKYTALE_RELAY_REVOCATIONS?.trim() || undefined);
  if (revocationsFile !== undefined && authSecret === undefined) {
    throw new ConfigError("--revocations revokes tokens, and this relay takes none: give it --auth-secret-file as well");
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
  const keyFile = values["key-file"] ?? (env.SKYTALE_RELAY_KEY_FILE?.trim() || undefined);
  const store = storeConfig(values, env);
  if (store.kind === "nats" && keyFile === undefined) {
    throw new ConfigError("with --nats every relay node must present the same key: give each the same --key-file (32 random bytes, e.g. made with: umask 077; head -c 32 /dev/urandom > relay.key)");
  }
  const maxInboxItems = positive("--max-inbox", values["max-inbox"], DEFAULT_LIMITS.maxInboxItems);
  const inboxWelcomeReserve = positive("--inbox-reserve", values["inbox-reserve"], Math.min(DEFAULT_LIMITS.inboxWelcomeReserve, Math.floor(maxInboxItems / 4)), true);
  if (inboxWelcomeReserve >= maxInboxItems) throw new ConfigError(`--inbox-reserve must be below --max-inbox (${maxInboxItems})`);
  return {
    host,
    port,
    dataDir: values["data-dir"] ?? env.SKYTALE_RELAY_DATA_DIR ?? join(env.SKYTALE_HOME?.trim() || join(homedir(), ".skytale"), "relay"),
    store,
    keyFile,
    authSecret,
    revocationsFile,
    metrics: metricsConfig(values["metrics-port"], values["metrics-host"], values["metrics-secret-file"], env),
    cover,
    retentionDays: positive("--retention-days", values["retention-days"], 7),
    maxChannelBytes: positive("--max-channel-mb", values["max-channel-mb"], 64) * 1024 * 1024,
    durability,
    limits: {
      ...DEFAULT_LIMITS,
      maxConnections: positive("--max-connections", values["max-connections"], DEFAULT_LIMITS.maxConnections),
      maxPreAuthLinks: positive("--max-preauth", values["max-preauth"], DEFAULT_LIMITS.maxPreAuthLinks),
      authTimeoutMs: positive("--auth-timeout-ms", values["auth-timeout-ms"], DEFAULT_LIMITS.authTimeoutMs),
      maxChannelsPerConnection: positive("--max-channels", values["max-channels"], DEFAULT_LIMITS.maxChannelsPerConnection),
      framesPerSecond: positive("--frames-per-second", values["frames-per-second"], DEFAULT_LIMITS.framesPerSecond),
      maxInboxItems,
      quotas: quotaLimits(values),
      inboxWelcomeReserve,
      maxInboxPerSender: positive("--max-inbox-per-sender", values["max-inbox-per-sender"], DEFAULT_LIMITS.maxInboxPerSender),
      maxReplayBytes: positive("--max-replay-mb", values["max-replay-mb"], DEFAULT_LIMITS.maxReplayBytes / 1024 / 1024) * 1024 * 1024,
    },
  };
}

/** The quota flags over their defaults (quotas.ts). */
function quotaLimits(values: Record<string, string | undefined>): QuotaLimits {
  const q = DEFAULT_LIMITS.quotas;
  const MiB = 1024 * 1024;
  return {
    periodMs: positive("--quota-period-s", values["quota-period-s"], q.periodMs / 1000) * 1000,
    channelsOpened: positive("--quota-channels", values["quota-channels"], q.channelsOpened),
    archiveBytes: positive("--quota-archive-mb", values["quota-archive-mb"], q.archiveBytes / MiB) * MiB,
    inboxItems: positive("--quota-inbox-items", values["quota-inbox-items"], q.inboxItems),
    inboxBytes: positive("--quota-inbox-mb", values["quota-inbox-mb"], q.inboxBytes / MiB) * MiB,
    welcomeRecipients: positive("--quota-welcomes", values["quota-welcomes"], q.welcomeRecipients),
    keyPackagesTaken: positive("--quota-key-packages", values["quota-key-packages"], q.keyPackagesTaken),
  };
}

/** The token secret from the flag, the file or the environment (one of them), checked for strength. */
function relaySecret(flag: string | undefined, file: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  if (flag !== undefined && file !== undefined) throw new ConfigError("give --auth-secret or --auth-secret-file, not both");
  let secret: string | undefined;
  try {
    secret = flag ?? (file !== undefined ? readSecretFile(file) : undefined) ?? (env.SKYTALE_RELAY_SECRET || undefined);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (secret !== undefined) assertStrongSecret(secret);
  return secret;
}

/** Throws ConfigError, saying what is needed, unless `secret` is strong enough to sign tokens. */
export function assertStrongSecret(secret: string): void {
  const weakness = secretWeakness(secret);
  if (weakness !== undefined) throw new ConfigError(`the auth secret is too weak (${weakness}): ${SECRET_ADVICE}`);
}

/** The metrics port, if asked for: loopback, or guarded by a bearer secret. */
function metricsConfig(portText: string | undefined, hostText: string | undefined, secretFile: string | undefined, env: NodeJS.ProcessEnv): AdminConfig | undefined {
  if (portText === undefined) {
    if (hostText !== undefined || secretFile !== undefined) throw new ConfigError("--metrics-host and --metrics-secret-file go with --metrics-port");
    return undefined;
  }
  const port = positive("--metrics-port", portText, 0, true);
  if (!Number.isInteger(port) || port > 65535) throw new ConfigError("--metrics-port must be 0-65535");
  let secret: string | undefined;
  try {
    secret = (secretFile !== undefined ? readSecretFile(secretFile) : undefined) ?? (env.SKYTALE_RELAY_METRICS_SECRET || undefined);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  const host = hostText ?? "127.0.0.1";
  if (!isLoopback(host) && secret === undefined) {
    throw new ConfigError(`refusing to serve metrics on ${host} without --metrics-secret-file (or SKYTALE_RELAY_METRICS_SECRET)`);
  }
  if (secret !== undefined && secretWeakness(secret) !== undefined) throw new ConfigError(`the metrics secret is too weak (${secretWeakness(secret)}): ${SECRET_ADVICE}`);
  return { host, port, secret };
}
