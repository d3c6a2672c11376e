import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { InMemoryTransport } from "@modelcontextprotocol/sdk/inMemory.js";
import type { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { CallToolResultSchema, type CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import type { ChannelService } from "../../src/agent/types.js";
import { createServer } from "../../src/mcp/server.js";
import { MemoryNetwork, MemoryService } from "./memoryService.js";

export interface Host {
  readonly client: Client;
  readonly server: McpServer;
  /** Lines the server logged (it would write them to stderr). */
  readonly logs: string[];
  call(name: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  close(): Promise<void>;
}

/** A mock MCP host: the SDK's real Client, linked in memory to createServer(service). */
export async function connectHost(service: ChannelService): Promise<Host> {
  const logs: string[] = [];
  const server = createServer(service, { version: "1.2.3", log: (line) => logs.push(line) });
  const client = new Client({ name: "test-host", version: "0.0.0" });
  const [clientTransport, serverTransport] = InMemoryTransport.createLinkedPair();
  await Promise.all([server.connect(serverTransport), client.connect(clientTransport)]);
  return {
    client,
    server,
    logs,
    call: async (name, args = {}) => CallToolResultSchema.parse(await client.callTool({ name, arguments: args })),
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

/** Two agents on one network, each behind its own host. */
export async function twoAgents(options: { waitTickMs?: number } = {}) {
  const network = new MemoryNetwork();
  const planner = new MemoryService("planner", network, options);
  const coder = new MemoryService("coder", network, options);
  const [plannerHost, coderHost] = await Promise.all([connectHost(planner), connectHost(coder)]);
  return { network, planner, coder, plannerHost, coderHost, close: () => Promise.all([plannerHost.close(), coderHost.close()]) };
}

/** The text of a result's first content block. */
export function textOf(result: CallToolResult): string {
  const [first] = result.content;
  return first?.type === "text" ? first.text : "";
}

/** The structured content of a successful result; fails the test with the error text otherwise. */
export function structured(result: CallToolResult): Record<string, unknown> {
  if (result.isError) throw new Error(`expected success, got error: ${textOf(result)}`);
  if (!result.structuredContent) throw new Error("result has no structuredContent");
  return result.structuredContent;
}
