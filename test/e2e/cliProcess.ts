// The built skytale-mcp as users and hosts start it: one-shot commands, and the MCP server over stdio.
import { spawn } from "node:child_process";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { keyOfDidKey } from "../../src/mls/didKey.js";

/** `npm test` builds first (see package.json), so this is what `npx skytale-mcp` runs. */
export const CLI = join(import.meta.dirname, "../../dist/cli.js");

export interface CliRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs `skytale-mcp ...args` to its end with only `env` (plus PATH and friends) in its environment. */
export function runCli(args: string[], env: Record<string, string> = {}, stdin = ""): Promise<CliRun> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...getDefaultEnvironment(), ...env }, stdio: ["pipe", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  child.stdin.end(stdin);
  return new Promise((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
}

export interface CliHost {
  call(tool: string, args?: Record<string, unknown>): Promise<CallToolResult>;
  /** The structured result of a call that must succeed. */
  ok(tool: string, args?: Record<string, unknown>): Promise<Record<string, unknown>>;
  readonly client: Client;
  readonly errors: Error[];
  stderr(): string;
  close(): Promise<void>;
}

/** Starts the MCP server as a host does (only `env`, plus PATH and friends) and connects the SDK's client. */
export async function connectCli(env: Record<string, string>, command: { command: string; args: string[] } = { command: process.execPath, args: [CLI] }): Promise<CliHost> {
  const transport = new StdioClientTransport({ ...command, env: { ...getDefaultEnvironment(), ...env }, stderr: "pipe" });
  let err = "";
  transport.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const client = new Client({ name: "e2e-host", version: "0" });
  const errors: Error[] = [];
  // A line on stdout that is not JSON-RPC surfaces here (the SDK fails to parse it).
  client.onerror = (e) => errors.push(e);
  await client.connect(transport);
  const call = async (tool: string, args: Record<string, unknown> = {}) => (await client.callTool({ name: tool, arguments: args })) as CallToolResult;
  return {
    call,
    async ok(tool, args) {
      const r = await call(tool, args);
      if (r.isError) throw new Error(`${tool}: ${JSON.stringify(r.content)}`);
      return r.structuredContent as Record<string, unknown>;
    },
    client,
    errors,
    stderr: () => err,
    close: () => client.close(),
  };
}

/** The text of a tool result's first block. */
export function resultText(result: CallToolResult): string {
  const [first] = result.content;
  return first?.type === "text" ? first.text : "";
}

/** A free loopback port (bound, read, released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as AddressInfo;
      probe.close(() => resolve(port));
    });
    probe.once("error", reject);
  });
}

/** Another program's web server (wrangler, a dev server) answering every request on a loopback port. */
export async function foreignHttpServer(status = 404): Promise<{ server: Server; port: number; close(): Promise<void> }> {
  const server = createServer((_req, res) => {
    res.writeHead(status, { "content-type": "text/html" });
    res.end("<html><body>some other dev server</body></html>");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    server,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * The identity key of the agent `env` names, made on first use by `skytale-mcp whoami`: what an
 * operator asks an agent for before minting its token.
 */
export async function identityKeyOf(env: Record<string, string>): Promise<Uint8Array> {
  const run = await runCli(["whoami"], env);
  if (run.code !== 0) throw new Error(`whoami failed: ${run.stderr}`);
  return keyOfDidKey((JSON.parse(run.stdout) as { did: string }).did);
}
