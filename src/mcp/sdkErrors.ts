/**
 * Failures the SDK answers itself, before a tool's handler runs: arguments that fail the tool's
 * schema, an unknown or disabled tool, a result that fails its output schema. The SDK words them
 * its own way ("MCP error -32602: Input validation error: ..."); here they get the form of every
 * other failure, "code: sentence" with the code in _meta, so a model can act on them alike.
 */
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { Log } from "./context.js";
import { failure } from "./results.js";

const INPUT = /^MCP error -32602: Input validation error: Invalid arguments for tool (\S+): ([\s\S]*)$/;
const UNKNOWN = /^MCP error -32602: Tool (\S+) (not found|disabled)$/;

/** The result for a failure the SDK caught, from its message. */
export function sdkFailure(message: string, log: Log): CallToolResult {
  const input = INPUT.exec(message);
  if (input) return failure("bad_request", `invalid arguments for ${input[1]}: ${issues(input[2] ?? "")}`);
  const unknown = UNKNOWN.exec(message);
  if (unknown) return failure("not_found", `no tool named '${unknown[1]}' here; tools/list shows the tools this server has`);
  // Anything else (a result that fails its own output schema) is a bug in this server.
  log(`skytale-mcp: ${message}`);
  return failure("internal", "internal error in skytale-mcp (details are in its stderr log). Retrying is unlikely to help.");
}

/**
 * Points the SDK's failure results at sdkFailure. The SDK offers no hook for this: the method it
 * calls (McpServer.createToolError) is replaced on this instance; test/mcp/validation.test.ts
 * notices if an SDK update stops calling it.
 */
export function wordSdkFailures(server: McpServer, log: Log): void {
  Object.assign(server, { createToolError: (message: string) => sdkFailure(message, log) });
}

/** "channel is required at channel\nwait_ms must be ... at wait_ms" → one sentence per issue, the path only where the text lacks it. */
function issues(text: string): string {
  return text
    .split("\n")
    .map((line) => {
      const at = /^([\s\S]*) at ([\w.[\]]+)$/.exec(line);
      if (at === null) return line;
      const [, what = "", path = ""] = at;
      return what.includes(path.split(".")[0] ?? path) ? what : `${what} (${path})`;
    })
    .join("; ");
}
