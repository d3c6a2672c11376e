// The MCP server over Streamable HTTP (issue 14): the SDK's own HTTP client gets the same tools,
// loopback only without a secret, and requests that a web page or a stranger could send are refused.
import { request } from "node:http";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { afterEach, describe, expect, it } from "vitest";
import { runHttpServer, type HttpServer } from "../../src/mcp/http.js";
import { MemoryNetwork, MemoryService } from "./memoryService.js";

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
});

async function serve(options: { secret?: string } = {}): Promise<{ http: HttpServer; service: MemoryService }> {
  const service = new MemoryService("planner", new MemoryNetwork());
  const http = await runHttpServer(service, { port: 0, log: () => {}, ...options });
  cleanups.push(() => http.close());
  return { http, service };
}

async function connect(url: string, headers: Record<string, string> = {}): Promise<Client> {
  const client = new Client({ name: "http-host", version: "0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers } }));
  cleanups.push(() => client.close());
  return client;
}

/** A raw POST, with headers a browser or a stranger would send; resolves with the status. */
function post(url: string, headers: Record<string, string>): Promise<number> {
  const body = JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-11-25", capabilities: {}, clientInfo: { name: "x", version: "0" } } });
  return new Promise((resolve, reject) => {
    const req = request(url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream", ...headers } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.once("error", reject);
    req.end(body);
  });
}

describe("skytale-mcp over Streamable HTTP", () => {
  it("serves the same tools and prompts, one session per client, all on one agent", async () => {
    const { http, service } = await serve();
    expect(http.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/mcp$/);
    const first = await connect(http.url);
    const second = await connect(http.url);
    expect((await first.listTools()).tools).toHaveLength(18);
    expect((await first.listPrompts()).prompts.map((p) => p.name).sort()).toEqual(["join_channel", "start_channel"]);
    const created = await first.callTool({ name: "channel_create", arguments: { channel: "acme/http/chat" } });
    expect(created.structuredContent).toMatchObject({ channel: "acme/http/chat" });
    const listed = await second.callTool({ name: "channel_list", arguments: {} });
    expect(listed.structuredContent).toMatchObject({ channels: [{ channel: "acme/http/chat" }] });
    const bad = await second.callTool({ name: "send", arguments: { channel: "acme/http/chat" } });
    expect(bad.content).toEqual([{ type: "text", text: "bad_request: invalid arguments for send: message is required" }]);
    expect(service.closed).toBe(0); // sessions come and go; the agent is its owner's to close
  });

  it("refuses Host names and web origins other than loopback, which DNS rebinding would bring", async () => {
    const { http } = await serve();
    const host = new URL(http.url).host;
    expect(await post(http.url, { host: `evil.example:${new URL(http.url).port}` })).toBe(403);
    expect(await post(http.url, { host, origin: "https://evil.example" })).toBe(403);
    expect(await post(http.url, { host, origin: `http://localhost:${new URL(http.url).port}` })).toBe(200);
    expect(await post(http.url.replace(/\/mcp$/, "/other"), { host })).toBe(404);
  });

  it("with a secret, only requests carrying it are served", async () => {
    const { http } = await serve({ secret: "s3cret" });
    expect(await post(http.url, {})).toBe(401);
    expect(await post(http.url, { authorization: "Bearer wrong" })).toBe(401);
    expect(await post(http.url, { authorization: "Bearer s3cret-and-more" })).toBe(401);
    const client = await connect(http.url, { authorization: "Bearer s3cret" });
    expect((await client.listTools()).tools).toHaveLength(18);
  });

  it("will not listen beyond loopback without a secret", async () => {
    const service = new MemoryService("planner", new MemoryNetwork());
    await expect(runHttpServer(service, { host: "0.0.0.0", port: 0, log: () => {} })).rejects.toThrow(/refusing to serve MCP on 0\.0\.0\.0 without SKYTALE_MCP_SECRET/);
  });
});
