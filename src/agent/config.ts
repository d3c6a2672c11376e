import { coverFromEnv, parseRelayKey } from "../transport/env.js";
import type { AgentConfig } from "./agent.js";
import { AgentError } from "./types.js";

/** The agent's configuration from SKYTALE_* variables (what an MCP host passes in `env`). */
export function agentConfigFromEnv(env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const name = env.SKYTALE_IDENTITY?.trim();
  if (!name) {
    throw new AgentError("bad_request", "SKYTALE_IDENTITY is not set: give this agent a name in the host's config, e.g. \"env\": { \"SKYTALE_IDENTITY\": \"planner\" }");
  }
  // One relay: a URL, or its nodes' URLs separated by commas (the client fails over between them).
  const relayUrl = env.SKYTALE_RELAY?.split(",").map((u) => u.trim()).filter(Boolean).join(",") || undefined;
  if (relayUrl !== undefined && !relayUrl.split(",").every((u) => /^wss?:\/\/[^\s]+$/.test(u))) {
    throw new AgentError("bad_request", `SKYTALE_RELAY must be a ws:// or wss:// URL, or several separated by commas, got '${relayUrl}'`);
  }
  const keyText = env.SKYTALE_RELAY_KEY?.trim();
  return {
    name,
    ...(env.SKYTALE_DATA_DIR?.trim() ? { dataDir: env.SKYTALE_DATA_DIR.trim() } : {}),
    ...(env.SKYTALE_PASSPHRASE ? { passphrase: env.SKYTALE_PASSPHRASE } : {}),
    ...(relayUrl ? { relayUrl } : {}),
    ...(keyText ? { relayKey: parseRelayKey(keyText, "SKYTALE_RELAY_KEY") } : {}),
    token: env.SKYTALE_TOKEN?.trim() ?? "",
    acceptDirectoryAdds: !["0", "false", "no", "off"].includes((env.SKYTALE_ACCEPT_DIRECTORY_ADDS ?? "").trim().toLowerCase()),
    cover: coverFromEnv(env),
  };
}
