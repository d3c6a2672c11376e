// `skytale-mcp demo`: an embedded relay and two real skytale-mcp stdio servers, driven by an MCP
// client acting as their host. They create a channel, invite, join, talk, rotate keys; then the
// demo shows the conversation and what the relay saw: frame sizes and ciphertext only.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { getDefaultEnvironment, StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { parseRelayConfig } from "./relay/config.js";
import { Relay } from "./relay/relayServer.js";

const CHANNEL = "demo/agents/chat";

type Structured = Record<string, unknown>;

interface DemoAgent {
  readonly name: string;
  call(tool: string, args?: Record<string, unknown>): Promise<Structured>;
  close(): Promise<void>;
}

async function startAgent(cli: string, name: string, root: string, relay: Relay): Promise<DemoAgent> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: [cli],
    env: {
      ...getDefaultEnvironment(),
      SKYTALE_IDENTITY: name,
      SKYTALE_DATA_DIR: join(root, name),
      SKYTALE_RELAY: relay.url,
      SKYTALE_RELAY_KEY: relay.publicKeyBase64,
      SKYTALE_COVER: "poisson",
      SKYTALE_COVER_RATE: "5",
    },
    stderr: "pipe",
  });
  const client = new Client({ name: "skytale-demo-host", version: "1.0.0" });
  await client.connect(transport);
  return {
    name,
    async call(tool, args = {}) {
      const result = await client.callTool({ name: tool, arguments: args });
      if (result.isError) throw new Error(`${name}.${tool} failed: ${JSON.stringify(result.content)}`);
      return result.structuredContent as Structured;
    },
    close: () => client.close(),
  };
}

function say(line = ""): void {
  process.stdout.write(`${line}\n`); // stdout-ok: the demo talks to a person, not to an MCP host
}

/** Runs the demo; `cli` is the skytale-mcp entry point to start the two agents with. */
export async function runDemo(cli: string): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), "skytale-demo-"));
  const relay = await Relay.start(parseRelayConfig(["--port", "0", "--data-dir", join(root, "relay"), "--cover", "poisson", "--cover-rate", "5"], {}), {
    log: () => {},
  });
  const agents: DemoAgent[] = [];
  const spoken: string[] = [];
  try {
    say(`relay: ${relay.url} (key ${relay.publicKeyBase64.slice(0, 12)}…), cover traffic on`);
    const planner = await startAgent(cli, "planner", root, relay);
    const coder = await startAgent(cli, "coder", root, relay);
    agents.push(planner, coder);
    for (const a of agents) {
      const me = await a.call("whoami");
      say(`${a.name}: identity ${String(me.identity)}, key ${String(me.did)}, safety code ${String(me.safety_code)}`);
    }
    const created = await planner.call("channel_create", { channel: CHANNEL });
    say(`planner created ${CHANNEL} (epoch ${String(created.epoch)})`);
    const { invite } = await planner.call("channel_invite", { channel: CHANNEL, max_uses: 1, ttl_seconds: 600 });
    say(`planner made an invite (${String(invite).length} characters, shared out of band)`);
    const joined = await coder.call("channel_join", { invite });
    say(`coder joined: ${String(joined.status)}, members ${JSON.stringify(joined.members)}`);

    const exchange = async (from: DemoAgent, to: DemoAgent, message: string) => {
      spoken.push(message);
      const sent = await from.call("send", { channel: CHANNEL, message });
      const got = await to.call("receive", { channel: CHANNEL, wait_ms: 10_000 });
      const messages = got.messages as { sender: string; message: string }[];
      for (const m of messages) say(`  ${m.sender} → ${to.name}: ${m.message}   (seq ${String(sent.seq)}, epoch ${String(sent.epoch)})`);
    };
    say("\nconversation:");
    await exchange(planner, coder, "Please run the test suite on branch feature/login.");
    await exchange(coder, planner, "Running now: 212 passed, 0 failed.");
    const rotated = await coder.call("channel_rotate_keys", { channel: CHANNEL });
    say(`  (coder rotated its keys: epoch ${String(rotated.epoch)})`);
    await exchange(planner, coder, "Great. Ship it after review.");

    say("\nwhat the relay saw:");
    const order = (key: string) => (key.startsWith("in") ? 0 : 1e6) + Number(key.split(" ")[1]);
    const frames = [...relay.metrics.linkFrames].sort(([a], [b]) => order(a) - order(b));
    for (const [key, count] of frames) say(`  ${key.replace(" ", " frames of ")} bytes: ${count}`);
    say(`  cover frames sent ${relay.metrics.coverOut}, received ${relay.metrics.coverIn}`);
    const archive = Buffer.concat(readdirSync(join(root, "relay")).map((f) => readFileSync(join(root, "relay", f))));
    const leaked = spoken.filter((m) => archive.includes(Buffer.from(m)) || archive.includes(Buffer.from(CHANNEL)));
    say(`  plaintext or channel name in the relay's storage: ${leaked.length === 0 ? "none" : leaked.join(", ")}`);
  } finally {
    for (const a of agents) await a.close().catch(() => undefined);
    await relay.close();
    rmSync(root, { recursive: true, force: true });
  }
}
