import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { ChannelService } from "../agent/types.js";

/** Where diagnostics go. Never stdout: on stdio that is the JSON-RPC channel. */
export type Log = (line: string) => void;

export const stderrLog: Log = (line) => {
  process.stderr.write(`${line}\n`);
};

/** What every tool registration gets besides the server. */
export interface ToolContext {
  readonly server: McpServer;
  readonly service: ChannelService;
  readonly log: Log;
  /** Tells the host that the list of inbox resources changed (a channel was created, joined or left). */
  readonly channelsChanged: () => void;
}
