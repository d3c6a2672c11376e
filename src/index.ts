/**
 * skytale-mcp as a library: the channel manager of one agent (Agent), the MCP server factory
 * over it, the relay, and the lower layers (MLS engine, encrypted store) for direct use.
 */
import { assertAgentName } from "./mls/identity.js";
import { MlsAgent, type MlsAgentOptions } from "./mls/mlsAgent.js";
import { AgentStore, type AgentStoreOptions } from "./store/agentStore.js";
import { resolveDataDir } from "./store/dataDir.js";

export { Agent, type AgentConfig } from "./agent/agent.js";
export { agentConfigFromEnv } from "./agent/config.js";
export {
  AgentError,
  type AgentErrorCode,
  type AgentView,
  type ChannelService,
  type ChannelState,
  type ChannelSummary,
  type ContactView,
  type JoinResult,
  type MemberView,
  type OfferView,
  type PendingJoinView,
  type ReceivedMessage,
  type ReceiveOptions,
  type RelayStatus,
  type SendResult,
  type Trust,
} from "./agent/types.js";
export { LocalRelayHost } from "./agent/localRelay.js";
export { createServer } from "./mcp/server.js";
export { runStdioServer } from "./mcp/stdio.js";
export { runHttpServer, type HttpServer, type HttpServerOptions } from "./mcp/http.js";
export { Relay } from "./relay/relayServer.js";
export { parseRelayConfig, type RelayConfig } from "./relay/config.js";
export { mintToken } from "./relay/token.js";
export { RelayClient, type RelayClientOptions } from "./transport/relayClient.js";
export { MlsAgent, MAX_BUFFERED_PER_CHANNEL } from "./mls/mlsAgent.js";
export type { ChannelInfo, MlsAgentOptions, OutgoingCommit, ReceiveOutcome } from "./mls/mlsAgent.js";
export { MlsError, type MlsErrorCode } from "./mls/errors.js";
export { type MemberIdentity } from "./mls/identity.js";
export { didKeyOf, keyOfDidKey, safetyCodeOf } from "./mls/didKey.js";
export type { Member } from "./mls/members.js";
export { nodeCryptoProvider } from "./mls/crypto/nodeProvider.js";
export { CIPHER_SUITE, loadCiphersuite } from "./mls/suite.js";
export { AgentStore, type AgentStoreOptions, type InboxEntry } from "./store/agentStore.js";
export { StoreError, type StoreErrorCode } from "./store/errors.js";
export { resolveDataDir, resolveLocalRelayDir, skytaleHome } from "./store/dataDir.js";
export { BUCKETS, WIRE_OVERHEAD } from "./wire/buckets.js";

/** An agent's MLS engine and the store under it, without a relay (see Agent for the whole). */
export interface OpenedAgent {
  readonly mls: MlsAgent;
  readonly store: AgentStore;
}

/** Opens the MLS engine and store of agent `name` in its data dir (SKYTALE_DATA_DIR or <SKYTALE_HOME>/<name>), creating it on first use. */
export async function openAgent(
  name: string,
  options: AgentStoreOptions & Omit<MlsAgentOptions, "name" | "port"> & { dataDir?: string } = {},
): Promise<OpenedAgent> {
  assertAgentName(name); // a refused name must leave nothing on disk
  const store = AgentStore.open(options.dataDir ?? resolveDataDir(name), { passphrase: options.passphrase });
  try {
    return { mls: await MlsAgent.open({ ...options, name, port: store }), store };
  } catch (error) {
    store.close();
    throw error;
  }
}
