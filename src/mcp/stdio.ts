/**
 * Runs the MCP server of one agent over stdio: JSON-RPC on stdin/stdout, diagnostics on stderr.
 * The SDK's stdio transport does not notice stdin closing, and a relay socket or timer would keep
 * the process alive after the host went away, so the process exits by itself on stdin end/close,
 * SIGTERM and SIGINT.
 */
import { Console } from "node:console";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import type { ChannelService } from "../agent/types.js";
import { stderrLog } from "./context.js";
import { createServer, type CreateServerOptions } from "./server.js";

export interface StdioServerOptions extends CreateServerOptions {
  /** Called once with the exit code after shutdown. Default: process.exit. */
  readonly exit?: (code: number) => void;
}

export interface StdioServer {
  readonly server: McpServer;
  /** Closes the MCP session, then the service, then exits. Safe to call more than once. */
  shutdown(reason: string): Promise<void>;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Nothing but JSON-RPC may reach stdout: hosts drop the connection on a stray line. Our code logs
 * to stderr already; this catches console.log, console.dir, console.table and the rest in any
 * dependency, by pointing every console method at a Console that writes to stderr.
 */
function routeConsoleToStderr(): void {
  const stderrConsole = new Console({ stdout: process.stderr, stderr: process.stderr });
  for (const [name, method] of Object.entries(stderrConsole)) {
    if (typeof method === "function") Object.assign(console, { [name]: method });
  }
}

export async function runStdioServer(service: ChannelService, options: StdioServerOptions = {}): Promise<StdioServer> {
  routeConsoleToStderr();
  const log = options.log ?? stderrLog;
  const exit = options.exit ?? ((code: number) => process.exit(code));
  const server = createServer(service, { ...options, log });

  const close = async (reason: string): Promise<void> => {
    log(`skytale-mcp: shutting down (${reason})`);
    let code = 0;
    try {
      await server.close();
    } catch (error) {
      code = 1;
      log(`skytale-mcp: closing the MCP session failed: ${messageOf(error)}`);
    }
    try {
      await service.close();
    } catch (error) {
      code = 1;
      log(`skytale-mcp: closing the agent failed: ${messageOf(error)}`);
    }
    exit(code);
  };
  let closing: Promise<void> | undefined;
  const shutdown = (reason: string): Promise<void> => {
    // Closing starts a microtask later, so `closing` is set before server.close() fires onclose,
    // which calls shutdown again.
    closing ??= Promise.resolve().then(() => close(reason));
    return closing;
  };
  const onSignal = (signal: NodeJS.Signals) => {
    // A second signal while closing means the host (or user) will not wait: leave now.
    if (closing) {
      log(`skytale-mcp: ${signal} during shutdown; exiting now`);
      exit(1);
      return;
    }
    void shutdown(signal);
  };

  process.stdin.once("end", () => void shutdown("stdin ended"));
  process.stdin.once("close", () => void shutdown("stdin closed"));
  // A host that died leaves a broken pipe: writing would raise EPIPE as an uncaught error.
  process.stdout.on("error", (error) => void shutdown(`stdout failed: ${messageOf(error)}`));
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);

  server.server.onerror = (error) => log(`skytale-mcp: protocol error: ${messageOf(error)}`);
  // The transport closes itself on an oversized or broken input stream; the process has no use then.
  const innerOnClose = server.server.onclose;
  server.server.onclose = () => {
    innerOnClose?.();
    void shutdown("transport closed");
  };

  await server.connect(new StdioServerTransport());
  log(`skytale-mcp: agent '${service.identity.name}' serving MCP on stdio`);
  return { server, shutdown };
}
