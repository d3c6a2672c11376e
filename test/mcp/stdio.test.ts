// runStdioServer in a real child process: stdout carries JSON-RPC and nothing else, and the process
// exits by itself when the host closes stdin or signals it, even with a timer keeping it alive.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { describe, expect, it } from "vitest";

const FIXTURE = join(import.meta.dirname, "fixtures/stdioServer.ts");
const ARGS = ["--import", "tsx", FIXTURE];
const ENV = { ...getDefaultEnvironment(), SKYTALE_IDENTITY: "planner" };

function jsonRpcLine(message: Record<string, unknown>): string {
  return `${JSON.stringify({ jsonrpc: "2.0", ...message })}\n`;
}

const INITIALIZE = jsonRpcLine({
  id: 1,
  method: "initialize",
  params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "raw-host", version: "0" } },
});

describe("runStdioServer", () => {
  it("serves an SDK host over stdio and exits within a second of stdin closing", async () => {
    const transport = new StdioClientTransport({ command: process.execPath, args: ARGS, env: ENV, stderr: "pipe" });
    let stderr = "";
    transport.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const client = new Client({ name: "test-host", version: "0" });
    const transportErrors: Error[] = [];
    client.onerror = (error) => transportErrors.push(error);
    await client.connect(transport);

    expect(client.getServerVersion()).toEqual({ name: "skytale-mcp", version: "0.0.0-test" });
    const created = await client.callTool({ name: "channel_create", arguments: { channel: "acme/research/planning" } });
    expect(created.structuredContent).toMatchObject({ channel: "acme/research/planning", epoch: 0 });
    const { tools } = await client.listTools();
    expect(tools).toHaveLength(18);

    const pid = transport.pid;
    const started = Date.now();
    await client.close(); // ends stdin; SIGTERM only after 2 s if the process were still there
    expect(Date.now() - started).toBeLessThan(1000);
    expect(() => process.kill(pid ?? 0, 0)).toThrow(); // gone
    expect(stderr).toContain("shutting down (stdin");
    expect(stderr).toContain("fixture: service closed");
    // A non-JSON line on stdout would have surfaced here as a parse error.
    expect(transportErrors).toEqual([]);
    // The fixture's stray console.log went to stderr instead.
    expect(stderr).toContain("a stray line a dependency printed");
    expect(stderr).toContain("object a dependency printed");
  });

  it("writes only JSON-RPC lines to stdout, and exits 0 when stdin ends", async () => {
    const child = spawn(process.execPath, ARGS, { env: ENV, stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<{ code: number | null; at: number }>((resolve) => child.once("exit", (code) => resolve({ code, at: Date.now() })));

    child.stdin.write(INITIALIZE);
    child.stdin.write(jsonRpcLine({ method: "notifications/initialized" }));
    child.stdin.write(jsonRpcLine({ id: 2, method: "tools/list" }));
    child.stdin.write(jsonRpcLine({ id: 3, method: "tools/call", params: { name: "send", arguments: { channel: "a/b/c", message: "x" } } }));
    child.stdin.write(jsonRpcLine({ id: 4, method: "tools/call", params: { name: "whoami", arguments: {} } }));
    child.stdin.write("this is not json\n"); // a broken host line must not break the server
    child.stdin.write(jsonRpcLine({ id: 5, method: "tools/call", params: { name: "channel_list", arguments: {} } }));
    await expect.poll(() => stdout.includes('"id":5'), { timeout: 10_000 }).toBe(true);

    const ended = Date.now();
    child.stdin.end();
    const { code, at } = await exited;
    expect(code).toBe(0);
    expect(at - ended).toBeLessThan(1000);

    const lines = stdout.split("\n").filter((line) => line !== "");
    expect(lines.length).toBeGreaterThanOrEqual(5);
    for (const line of lines) expect(JSON.parse(line)).toMatchObject({ jsonrpc: "2.0" });
    const byId = new Map(lines.map((line) => JSON.parse(line) as { id?: number; result?: { isError?: boolean; content?: { text: string }[] } }).map((m) => [m.id, m]));
    expect(byId.get(3)?.result?.isError).toBe(true);
    expect(byId.get(3)?.result?.content?.[0]?.text).toMatch(/^not_found: /);
    expect(byId.get(4)?.result?.isError).toBeFalsy();
    expect(stderr).toContain("protocol error");
  });

  it.each(["SIGTERM", "SIGINT"] as const)("exits 0 on %s after closing the service", async (signal) => {
    const child = spawn(process.execPath, ARGS, { env: ENV, stdio: ["pipe", "pipe", "pipe"] });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
    await expect.poll(() => stderr.includes("serving MCP on stdio"), { timeout: 10_000 }).toBe(true);
    const sent = Date.now();
    child.kill(signal);
    expect(await exited).toBe(0);
    expect(Date.now() - sent).toBeLessThan(1000);
    expect(stderr).toContain(`shutting down (${signal})`);
    expect(stderr).toContain("fixture: service closed");
  });
});
