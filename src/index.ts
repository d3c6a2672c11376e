/**
 * skytale-mcp as a library: the MLS engine of one agent and its encrypted store.
 * The MCP server and the relay link build on these.
 */
import { MlsAgent, type MlsAgentOptions } from "./mls/mlsAgent.js";
import { AgentStore, type AgentStoreOptions } from "./store/agentStore.js";
import { resolveDataDir } from "./store/dataDir.js";

export { MlsAgent, MAX_BUFFERED_PER_CHANNEL } from "./mls/mlsAgent.js";
export type { ChannelInfo, MlsAgentOptions, OutgoingCommit, ReceiveOutcome } from "./mls/mlsAgent.js";
export { MlsError, type MlsErrorCode } from "./mls/errors.js";
export { fingerprint, type MemberIdentity } from "./mls/identity.js";
export type { Member } from "./mls/members.js";
export { nodeCryptoProvider } from "./mls/crypto/nodeProvider.js";
export { CIPHER_SUITE, loadCiphersuite } from "./mls/suite.js";
export { AgentStore, type AgentStoreOptions, type InboxEntry } from "./store/agentStore.js";
export { StoreError, type StoreErrorCode } from "./store/errors.js";
export { resolveDataDir } from "./store/dataDir.js";
export { BUCKETS, WIRE_OVERHEAD } from "./wire/buckets.js";

/** An opened agent: its MLS engine and the store under it. */
export interface OpenedAgent {
  readonly mls: MlsAgent;
  readonly store: AgentStore;
}

/** Opens the agent `name` in its data dir (SKYTALE_DATA_DIR or ~/.skytale/<name>), creating it on first use. */
export async function openAgent(
  name: string,
  options: AgentStoreOptions & Omit<MlsAgentOptions, "name" | "port"> & { dataDir?: string } = {},
): Promise<OpenedAgent> {
  const store = AgentStore.open(options.dataDir ?? resolveDataDir(name), { passphrase: options.passphrase });
  try {
    return { mls: await MlsAgent.open({ ...options, name, port: store }), store };
  } catch (error) {
    store.close();
    throw error;
  }
}
