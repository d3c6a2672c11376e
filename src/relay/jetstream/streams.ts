import { readFileSync } from "node:fs";
import { connect, credsAuthenticator, nanos, type NatsConnection } from "@nats-io/transport-node";
import { DiscardPolicy, JetStreamApiError, RetentionPolicy, StorageType, type JetStreamManager, type StreamConfig, type StreamInfo } from "@nats-io/jetstream";
import { MAX_KEY_PACKAGES } from "../channelLog.js";
import type { Subjects } from "./subjects.js";

/** The NATS side of `skytale-mcp relay --nats ...`. */
export interface NatsOptions {
  /** nats:// URLs of the servers (any of them; the client learns the rest of the cluster). */
  readonly servers: readonly string[];
  /** Begins every stream and subject name (default SKYTALE). */
  readonly prefix: string;
  /** Replicas of the streams the relay creates; default 3 on a cluster, 1 on a single server. */
  readonly replicas: number | undefined;
  /** A NATS credentials file (JWT and NKey seed), if the server asks for one. */
  readonly credsFile: string | undefined;
}

/** The relay cannot run on this NATS (too old, no JetStream, a stream configured against it). */
export class NatsSetupError extends Error {
  override readonly name = "NatsSetupError";
}

/**
 * How long the relay keeps trying to reach NATS at start, or to place its streams on a cluster
 * that is still forming (nats-server 2.10 can take a minute to learn every peer's JetStream
 * details when all servers start at once: "no suitable peers for placement").
 */
const START_PATIENCE_MS = 120_000;
/** The dedup window for a channel record's retries (a publish whose answer was lost). */
const RECORD_DEDUP_NS = nanos(2 * 60 * 1000);
/**
 * The dedup window for inbox items: a Welcome delivered twice (by the node that took the commit
 * and by one finishing its work after a crash) within it lands once.
 */
export const INBOX_DEDUP_MS = 10 * 60 * 1000;

/**
 * The relay needs nats-server 2.10: in a cluster, 2.9.x lets several publishers win the same
 * expected-last-subject-sequence check (nats-server issue #4320, fixed in 2.10.0), and the key
 * directory's per-subject limit needs `discard_new_per_subject` (2.10). Returns why not, or undefined.
 */
export function versionRefusal(version: string, clustered: boolean): string | undefined {
  const match = /^v?(\d+)\.(\d+)\.(\d+)/.exec(version);
  if (match === null) return `cannot read the NATS server's version '${version}'; the relay needs nats-server 2.10 or newer`;
  const [major, minor] = [Number(match[1]), Number(match[2])];
  if (major > 2 || (major === 2 && minor >= 10)) return undefined;
  return clustered
    ? `nats-server ${version} in a cluster lets several publishers win the same compare-and-set on a subject (nats-server issue #4320, fixed in 2.10.0): two commits could both win one epoch and split the channel. Run nats-server 2.10 or newer on every server of the cluster.`
    : `nats-server ${version} is too old: the relay needs 2.10 or newer (per-subject limits for the key-package directory, and a correct compare-and-set once the server joins a cluster).`;
}

/** Connects, retrying for a while (a cluster that is starting, a server restarting), and checks the server. */
export async function connectNats(options: NatsOptions, name: string): Promise<NatsConnection> {
  const deadline = Date.now() + START_PATIENCE_MS;
  for (;;) {
    try {
      const nc = await connect({
        servers: [...options.servers],
        name,
        // A relay outlives NATS restarts: it never stops reconnecting.
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        timeout: 5000,
        pingInterval: 10_000,
        ...(options.credsFile === undefined ? {} : { authenticator: credsAuthenticator(new Uint8Array(readFileSync(options.credsFile))) }),
      });
      const refusal = versionRefusal(nc.info?.version ?? "", nc.info?.cluster !== undefined);
      if (refusal !== undefined) {
        await nc.close();
        throw new NatsSetupError(refusal);
      }
      if (nc.info?.jetstream !== true) {
        await nc.close();
        throw new NatsSetupError("JetStream is not enabled on the NATS server (start it with -js, or a jetstream {} block)");
      }
      return nc;
    } catch (error) {
      if (error instanceof NatsSetupError || Date.now() > deadline) {
        if (error instanceof NatsSetupError) throw error;
        throw new NatsSetupError(`cannot reach NATS at ${options.servers.join(", ")}: ${(error as Error).message}`, { cause: error });
      }
      await sleep(250);
    }
  }
}

/** The four streams, as the relay creates them. */
export function streamConfigs(subjects: Subjects, replicas: number): (Partial<StreamConfig> & { name: string })[] {
  const common = {
    storage: StorageType.File,
    num_replicas: replicas,
    max_age: 0,
    deny_delete: false,
    deny_purge: false,
  };
  return [
    // Retention is the relay's own (retention.ts): it keeps each channel's last record, its state.
    { ...common, name: subjects.streams.channels, subjects: [subjects.allChannels], retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, duplicate_window: RECORD_DEDUP_NS },
    { ...common, name: subjects.streams.inboxes, subjects: [subjects.allInboxes], retention: RetentionPolicy.Limits, discard: DiscardPolicy.Old, duplicate_window: nanos(INBOX_DEDUP_MS) },
    // The server refuses a single-use package past the limit, whichever node publishes it.
    {
      ...common,
      name: subjects.streams.keyPackages,
      subjects: [subjects.allKeyPackages],
      retention: RetentionPolicy.Limits,
      discard: DiscardPolicy.New,
      discard_new_per_subject: true,
      max_msgs_per_subject: MAX_KEY_PACKAGES,
      duplicate_window: RECORD_DEDUP_NS,
    },
    { ...common, name: subjects.streams.welcomes, subjects: [subjects.welcomes], retention: RetentionPolicy.Workqueue, discard: DiscardPolicy.Old, duplicate_window: RECORD_DEDUP_NS },
  ];
}

/** What an existing stream must match; replicas and storage are the operator's choice (reported, not refused). */
function mismatches(want: Partial<StreamConfig>, have: StreamConfig): string[] {
  const problems: string[] = [];
  const sameSubjects = [...(want.subjects ?? [])].sort().join(",") === [...(have.subjects ?? [])].sort().join(",");
  if (!sameSubjects) problems.push(`subjects are ${JSON.stringify(have.subjects)}, not ${JSON.stringify(want.subjects)}`);
  if (have.retention !== want.retention) problems.push(`retention is ${have.retention}, not ${want.retention}`);
  if ((have.max_age ?? 0) !== 0) problems.push("max_age is set: the relay prunes by itself and keeps each channel's last record (its state), and inboxes and key packages must not expire");
  if (have.deny_delete || have.deny_purge) problems.push("deny_delete/deny_purge are set: the relay deletes taken key packages and purges acknowledged inbox items and old records");
  if ((have.duplicate_window ?? 0) < (want.duplicate_window ?? 0)) problems.push(`duplicate_window is ${have.duplicate_window} ns, below the ${want.duplicate_window} ns the relay relies on`);
  if (want.discard_new_per_subject === true && (have.discard !== DiscardPolicy.New || have.discard_new_per_subject !== true || have.max_msgs_per_subject !== want.max_msgs_per_subject)) {
    problems.push(`it must discard new messages per subject past ${want.max_msgs_per_subject} (the key-package limit)`);
  }
  if (want.discard_new_per_subject !== true && (have.max_msgs_per_subject ?? -1) > 0) problems.push("max_msgs_per_subject is set: it would drop archived records");
  return problems;
}

/**
 * Checks the relay's streams and creates those that are missing. A stream whose configuration
 * would break a guarantee stops the relay with what to change; other differences are reported.
 */
export async function ensureStreams(nc: NatsConnection, jsm: JetStreamManager, subjects: Subjects, requestedReplicas: number | undefined, report: (line: string) => void): Promise<number> {
  const replicas = requestedReplicas ?? (nc.info?.cluster !== undefined ? 3 : 1);
  const deadline = Date.now() + START_PATIENCE_MS;
  for (const want of streamConfigs(subjects, replicas)) {
    const name = want.name;
    for (;;) {
      try {
        const info = await existing(jsm, name);
        if (info === undefined) {
          await jsm.streams.add(want);
          report(`created stream ${name} (${replicas} replica${replicas === 1 ? "" : "s"})`);
        } else {
          const problems = mismatches(want, info.config);
          if (problems.length > 0) {
            throw new NatsSetupError(`stream ${name} exists but ${problems.join("; ")}. Fix it (nats stream edit ${name}) or give the relay another --nats-prefix.`);
          }
          if (info.config.num_replicas !== replicas && requestedReplicas !== undefined) {
            report(`stream ${name} has ${info.config.num_replicas} replicas, not the ${replicas} asked for: change it with nats stream edit ${name} --replicas ${replicas}`);
          }
          if (info.config.storage !== StorageType.File) report(`stream ${name} is kept in memory: a restart of NATS loses it`);
        }
        break;
      } catch (error) {
        if (error instanceof NatsSetupError) throw error;
        // "stream name already in use": another node created it first; look again.
        if (error instanceof JetStreamApiError && error.code === 10058) continue;
        // A cluster that is still forming (no meta leader, peers not yet known) refuses for a while.
        if ((error instanceof JetStreamApiError && CONFIG_ERRORS.has(error.code)) || Date.now() > deadline) {
          const placement = /peers|placement|insufficient resources|replicas/i.test((error as Error).message);
          throw new NatsSetupError(
            `cannot create stream ${name}: ${(error as Error).message}${placement ? ` (asked for ${replicas} replicas: set --nats-replicas to at most the number of JetStream servers)` : ""}`,
            { cause: error },
          );
        }
        await sleep(250);
      }
    }
  }
  return replicas;
}

async function existing(jsm: JetStreamManager, name: string): Promise<StreamInfo | undefined> {
  try {
    return await jsm.streams.info(name);
  } catch (error) {
    if (error instanceof JetStreamApiError && error.code === 10059) return undefined;
    throw error;
  }
}

/** Refusals no wait can change: subjects another stream has, a configuration the server rejects, no JetStream for the account, replicas unsupported. */
const CONFIG_ERRORS = new Set([10065, 10052, 10039, 10074]);

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
