import { assertAgentName } from "../mls/identity.js";
import { resolveDataDir, resolveLocalRelayDir } from "../store/dataDir.js";
import { coverFromEnv, parseRelayKey } from "../transport/env.js";
import type { AgentConfig } from "./agent.js";
import { LocalRelayHost, localRelayPort } from "./localRelay.js";
import { AgentError } from "./types.js";

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
  const relayUrl = env.SKYTALE_RELAY?.trim() || undefined;
  if (relayUrl !== undefined && !/^wss?:\/\/[^\s]+$/.test(relayUrl)) {
    throw new AgentError("bad_request", `SKYTALE_RELAY must be a ws:// or wss:// URL, got '${relayUrl}'`);
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
    acceptDirectoryAdds: !["0", "false", "no", "off"].includes((env.SKYTALE_ACCEPT_DIRECTORY_ADDS ?? "").trim().toLowerCase()),
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
