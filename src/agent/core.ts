import type { MlsAgent } from "../mls/mlsAgent.js";
import type { AgentStore } from "../store/agentStore.js";
import type { RelayClient } from "../transport/relayClient.js";
import type { ChannelRegistry } from "./channelRegistry.js";
import type { ChannelWarnings } from "./channelWarnings.js";
import type { AgentConfig } from "./config.js";
import type { Progress } from "./progress.js";
import type { ChannelState } from "./types.js";

/**
 * What every part of the channel manager shares: the layers below (MLS engine, store, relay
 * client), the channel registry, waiting, warnings and the log. Each part owns its own state
 * besides; Agent (agent.ts) makes one Core and wires the parts.
 */
export interface Core {
  readonly config: AgentConfig;
  readonly mls: MlsAgent;
  readonly store: AgentStore;
  readonly relay: RelayClient;
  readonly channels: ChannelRegistry;
  readonly progress: Progress;
  readonly warnings: ChannelWarnings;
  /** How long a request waits for the relay before its caller hears it is queued. */
  readonly sendTimeoutMs: number;
  log(line: string): void;
  /** Logs a failure of background work (by code): there is nobody to throw it at. */
  quiet(error: unknown): void;
  /** A channel's epoch and member names. */
  state(channel: string): Promise<ChannelState>;
}

/** A channel's epoch and member names, as tools report them. */
export function stateOf(channel: string, info: { epoch: bigint; members: { name: string }[] }): ChannelState {
  return { channel, epoch: info.epoch, members: info.members.map((m) => m.name) };
}

export const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
