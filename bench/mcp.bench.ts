// npm run bench:mcp — the MCP server as a host sees it: two real skytale-mcp stdio processes
// (dist/cli.js) and a relay, cover off (what paced cover adds is bench:cover's). Measures cold start to tools/list, join by
// invite, and send (A) → receive returning it (B). Writes docs/benchmarks.md (bench:mcp).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { parseRelayConfig } from "../src/relay/config.js";
import { Relay } from "../src/relay/relayServer.js";
import { machineLine, median, replaceSection } from "./report.js";

const CLI = join(import.meta.dirname, "../dist/cli.js");
const CHANNEL = "bench/mcp/latency";
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);
type Structured = Record<string, unknown>;

async function start(name: string, root: string, relay: Relay): Promise<{ client: Client; call: (tool: string, args?: Structured) => Promise<Structured>; coldMs: number }> {
  const t = performance.now();
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [CLI],
    env: { ...getDefaultEnvironment(), SKYTALE_IDENTITY: name, SKYTALE_DATA_DIR: join(root, name), SKYTALE_RELAY: relay.url, SKYTALE_RELAY_KEY: relay.publicKeyBase64, SKYTALE_COVER: "off" },
    stderr: "ignore",
  });
  const client = new Client({ name: "bench-host", version: "1.0.0" });
  await client.connect(transport);
  await client.listTools();
  const coldMs = performance.now() - t;
  const call = async (tool: string, args: Structured = {}) => {
    const r = await client.callTool({ name: tool, arguments: args });
    if (r.isError) throw new Error(`${tool}: ${JSON.stringify(r.content)}`);
    return r.structuredContent as Structured;
  };
  return { client, call, coldMs };
}

function pct(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "skytale-bench-mcp-"));
  const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", join(root, "relay"), "--cover", "off"], {}), { log: () => {} });
  try {
    const cold: number[] = [];
    for (let i = 0; i < 5; i++) {
      const s = await start(`cold${i}`, root, relay);
      cold.push(s.coldMs);
      await s.client.close();
    }
    const a = await start("alice", root, relay);
    const b = await start("bob", root, relay);
    await a.call("channel_create", { channel: CHANNEL });
    const { invite } = await a.call("channel_invite", { channel: CHANNEL, max_uses: 1, ttl_seconds: 600 });
    const tj = performance.now();
    const joined = await b.call("channel_join", { invite });
    const joinMs = performance.now() - tj;
    if (joined.status !== "joined") throw new Error("join did not complete");

    const lat: number[] = [];
    for (let i = 0; i < ROUNDS + 20; i++) {
      const waiting = b.call("receive", { channel: CHANNEL, wait_ms: 10_000 });
      await new Promise((r) => setTimeout(r, 2));
      const t = performance.now();
      await a.call("send", { channel: CHANNEL, message: `{"tool":"run_tests","n":${i}}` });
      const got = await waiting;
      if ((got.messages as unknown[]).length !== 1) throw new Error("lost a message");
      if (i >= 20) lat.push(performance.now() - t);
    }
    await a.client.close();
    await b.client.close();
    const rows = [
      ["cold start → tools/list answered (median of 5)", `${median(cold).toFixed(0)} ms`, "< 500 ms"],
      ["join by invite → joined (both online)", `${joinMs.toFixed(0)} ms`, "< 100 ms"],
      [`send (A) → receive returns it (B), p50 of ${ROUNDS}`, `${median(lat).toFixed(2)} ms`, "< 10 ms"],
      [`send (A) → receive returns it (B), p99`, `${pct(lat, 0.99).toFixed(2)} ms`, ""],
    ];
    const text = [
      `Command: \`npm run bench:mcp\`. ${machineLine()}`,
      "",
      "Two real `skytale-mcp` stdio processes (dist/cli.js) driven by the MCP SDK client, one relay in",
      "the benchmark process, cover off on both sides (paced cover adds its slot waits: bench:cover), bucket padding on. Times include",
      "JSON-RPC over stdio, MLS, the link layer and the relay's SQLite commit.",
      "",
      "| measurement | result | goal |",
      "|---|---|---|",
      ...rows.map((r) => `| ${r.join(" | ")} |`),
    ].join("\n");
    console.log(text);
    replaceSection("bench:mcp", "## MCP server (`npm run bench:mcp`)", text);
  } finally {
    await relay.close();
    rmSync(root, { recursive: true, force: true });
  }
}

await main();
