import { assertAgentName } from "../mls/identity.js";
import { resolveDataDir, resolveLocalRelayDir } from "../store/dataDir.js";
import { coverFromEnv, parseRelayKey } from "../transport/env.js";
import type { MlsAgentOptions } from "../mls/mlsAgent.js";
import type { CoverConfig } from "../wire/cover.js";
import { LocalRelayHost, localRelayPort } from "./localRelay.js";
import type { BacklogLimits } from "./streamBacklog.js";
import { AgentError } from "./types.js";

export type DirectoryAdds = "contacts" | "all" | "none";

/** How one agent is set up (Agent.open). */
export interface AgentConfig {
  /** The agent's name (its identity and relay id). */
  readonly name: string;
  /** Default: SKYTALE_DATA_DIR or ~/.skytale/<name>. */
  readonly dataDir?: string;
  readonly passphrase?: string;
  /** The relay; unset means the shared local relay on 127.0.0.1:8787, started on demand. */
  readonly relayUrl?: string;
  /** The relay's static key; unset means the key recorded on first use (or from an invite). */
  readonly relayKey?: Uint8Array;
  readonly token?: string;
  readonly cover?: CoverConfig;
  /**
   * Self-update after this many sent messages or this long, whichever comes first. The time since
   * the last rotation is kept in the data dir; the message count starts again on a restart.
   */
  readonly rotation?: { readonly messages: number; readonly ms: number };
  /** For tests: the wall clock (ms): key rotation, the sent time messages carry, and whether an invite has expired. */
  readonly clock?: () => number;
  /**
   * Channels other agents add this agent to without it asking (directory adds): "contacts"
   * (default) joins those added by a contact and keeps the rest as offers to answer; "all" joins
   * every one (anyone who can reach the relay can then pull this agent into a channel); "none"
   * joins none. Joins this agent asked for with an invite are always taken.
   */
  readonly directoryAdds?: DirectoryAdds;
  /** How long a send waits for the relay before answering relay_unreachable (it stays queued); 20 s. */
  readonly sendTimeoutMs?: number;
  /**
   * Whether sends that overlap may travel packed in one MLS message (default true; see
   * mls/packedPayloads.ts). false gives every send its own message, as benchmarks compare.
   */
  readonly packSends?: boolean;
  /** Where the local relay lives; default LocalRelayHost.forAgent(dataDir). */
  readonly localRelay?: LocalRelayHost;
  readonly log?: (line: string) => void;
  /** For tests: how much of the relay stream may wait to be applied (default DEFAULT_BACKLOG). */
  readonly streamBacklog?: BacklogLimits;
  /** For tests: how many requests the relay client lets wait at once (its default 1,024). */
  readonly maxPendingRequests?: number;
  /** For tests: how many queued messages' texts are kept to encrypt again (default MAX_ORPHANED). */
  readonly maxOrphaned?: number;
  /** Test-only: see MlsAgentOptions.observeSender. */
  readonly observeSender?: MlsAgentOptions["observeSender"];
}


/**
 * The agent's name from SKYTALE_IDENTITY, checked before anything touches the file system: the
 * name becomes a directory under ~/.skytale, so a refused one must leave nothing behind.
 */
export function identityFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  const name = env.SKYTALE_IDENTITY?.trim();
  if (!name) {
    throw new AgentError("bad_request", "SKYTALE_IDENTITY is not set: give this agent a name in the host's config, e.g. \"env\": { \"SKYTALE_IDENTITY\": \"planner\" }");
  }
  try {
    assertAgentName(name);
  } catch (error) {
    throw new AgentError("bad_request", `SKYTALE_IDENTITY ${JSON.stringify(name)} is not a valid agent name: ${(error as Error).message}`);
  }
  return name;
}

/** The agent's configuration from SKYTALE_* variables (what an MCP host passes in `env`). */
export function agentConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AgentConfig & { readonly dataDir: string } {
  const name = identityFromEnv(env);
  // One relay: a URL, or its nodes' URLs separated by commas (the client fails over between them).
  const relayUrl = env.SKYTALE_RELAY?.split(",").map((u) => u.trim()).filter(Boolean).join(",") || undefined;
  if (relayUrl !== undefined && !relayUrl.split(",").every((u) => /^wss?:\/\/[^\s]+$/.test(u))) {
    throw new AgentError("bad_request", `SKYTALE_RELAY must be a ws:// or wss:// URL, or several separated by commas, got '${relayUrl}'`);
  }
  const dataDir = resolveDataDir(name, env);
  const keyText = env.SKYTALE_RELAY_KEY?.trim();
  return {
    name,
    dataDir,
    ...(env.SKYTALE_PASSPHRASE ? { passphrase: env.SKYTALE_PASSPHRASE } : {}),
    ...(relayUrl ? { relayUrl } : { localRelay: localRelayFromEnv(name, dataDir, env) }),
    ...(keyText ? { relayKey: parseRelayKey(keyText, "SKYTALE_RELAY_KEY") } : {}),
    token: env.SKYTALE_TOKEN?.trim() ?? "",
    directoryAdds: directoryAddsFromEnv(env.SKYTALE_ACCEPT_DIRECTORY_ADDS),
    cover: coverFromEnv(env),
  };
}

/** The local relay agents meet on when SKYTALE_RELAY is unset; its dir follows the shared layout. */
function localRelayFromEnv(name: string, dataDir: string, env: NodeJS.ProcessEnv): LocalRelayHost {
  const relayDir = resolveLocalRelayDir(undefined, env);
  if (relayDir === dataDir) {
    throw new AgentError("bad_request", `the agent '${name}' would keep its data in the local relay's dir ${dataDir}; choose another SKYTALE_IDENTITY or set SKYTALE_DATA_DIR`);
  }
  return new LocalRelayHost(relayDir, localRelayPort(env));
}

/** SKYTALE_ACCEPT_DIRECTORY_ADDS: contacts (default), all (1, true, yes, on) or none (0, false, no, off). */
function directoryAddsFromEnv(value: string | undefined): DirectoryAdds {
  const text = (value ?? "").trim().toLowerCase();
  if (text === "" || text === "contacts") return "contacts";
  if (["1", "true", "yes", "on", "all"].includes(text)) return "all";
  if (["0", "false", "no", "off", "none"].includes(text)) return "none";
  throw new AgentError("bad_request", `SKYTALE_ACCEPT_DIRECTORY_ADDS must be contacts, all or none, got '${value}'`);
}
