import type { JetStreamClient } from "@nats-io/jetstream";
import type { ChannelFrame, StoreUnavailable } from "../channelLog.js";
import type { StoreMetrics } from "../metrics.js";
import type { StreamReader } from "./streamReader.js";
import type { Subjects } from "./subjects.js";
import type { WelcomeDesk } from "./welcomes.js";

/** Points where a crash test stops a node: a Welcome intent announced, its commit's record landed. */
export interface ChainFaults {
  readonly welcomeAnnounced?: () => void;
  readonly commitLanded?: () => void;
}

/** What a ChannelChain uses of the node around it. */
export interface ChainContext {
  readonly subjects: Subjects;
  readonly js: JetStreamClient;
  /** Reads the channels stream. */
  readonly reader: StreamReader;
  readonly metrics: StoreMetrics;
  readonly welcomes: WelcomeDesk;
  /** Message ids kept per channel to recognise retries. */
  readonly windowFrames: number;
  /** Bytes of frames one record may carry (the server's max_payload, less room for headers). */
  readonly recordBytes: number;
  /** Hands frames other nodes stored to the listener. */
  emit(channel: Uint8Array, frames: readonly ChannelFrame[]): void;
  /** Runs writes' `done`s as one group (the settle of the write that queued them). */
  settle(run: () => void): void;
  /** How many items each principal's inbox holds. */
  inboxSizes(principals: readonly string[]): Promise<Map<string, number>>;
  /** The error a failed operation is reported as (and counted). */
  unavailable(op: string, error: unknown): StoreUnavailable;
  /** A publish that lost its compare-and-set. */
  isConflict(error: unknown): boolean;
  /** A publish the server refused for good (too large, a limit): retrying cannot help. */
  isRefusal(error: unknown): boolean;
  report(line: string): void;
  readonly faults: ChainFaults;
}
