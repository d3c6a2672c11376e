#!/usr/bin/env node
// The skytale-mcp command: by default the MCP stdio server of one agent (stdout is JSON-RPC
// only); also the relay, token minting, the demo, and helpers on an agent's own data dir.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Agent } from "./agent/agent.js";
import { agentConfigFromEnv } from "./agent/config.js";
import { AgentError } from "./agent/types.js";
import { runDemo } from "./demo.js";
import { openAgent } from "./index.js";
import { runStdioServer } from "./mcp/stdio.js";
import { MlsError } from "./mls/errors.js";
import { ConfigError, parseRelayConfig, RELAY_USAGE } from "./relay/config.js";
import { NatsSetupError } from "./relay/jetstream/streams.js";
import { Relay } from "./relay/relayServer.js";
import { mintToken } from "./relay/token.js";
import { StoreError } from "./store/errors.js";

const USAGE = `usage: skytale-mcp [command]

commands:
  (none)        run the MCP stdio server for the agent named by SKYTALE_IDENTITY
  demo          two agents talk through an embedded relay; shows what the relay sees
  relay [options] run a relay (see skytale-mcp relay --help)
  token --secret S --sub AGENT [--ttl SECONDS]
                print a bearer token for AGENT that a relay with auth secret S accepts
  whoami        print this agent's name, fingerprint and data dir (creates the identity on first use)
  key-package   print a fresh single-use key package (base64url) for another agent to add you with

environment:
  SKYTALE_IDENTITY    the agent's name (required)
  SKYTALE_DATA_DIR    data dir (default ~/.skytale/<identity>)
  SKYTALE_RELAY       relay URL, ws:// or wss:// (default: a local relay on 127.0.0.1:8787, started on demand)
  SKYTALE_RELAY_KEY   the relay's key (default: recorded on first use)
  SKYTALE_TOKEN       bearer token for a relay with auth
  SKYTALE_COVER       off | poisson | constant (default poisson); SKYTALE_COVER_RATE frames/s
  SKYTALE_PASSPHRASE  derive the at-rest key from this instead of a key file`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

async function serveMcp(): Promise<number> {
  const agent = await Agent.open(agentConfigFromEnv());
  await runStdioServer(agent, { version: version() });
  return new Promise<number>(() => undefined); // runs until the host closes stdin or signals
}

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === "serve") return serveMcp();
  if (command === "--help" || command === "-h" || command === "help") {
    console.error(USAGE);
    return 0;
  }
  if (command === "demo") {
    await runDemo(fileURLToPath(import.meta.url));
    return 0;
  }
  if (command === "--version" || command === "-v") {
    console.log(version());
    return 0;
  }
  if (command === "relay") return runRelay(argv.slice(1));
  if (command === "token") return printToken(argv.slice(1));
  const name = process.env.SKYTALE_IDENTITY;
  if (!name) {
    console.error("SKYTALE_IDENTITY is not set: give this agent a name, e.g. SKYTALE_IDENTITY=planner");
    return 2;
  }
  const { mls, store } = await openAgent(name, { passphrase: process.env.SKYTALE_PASSPHRASE });
  try {
    switch (command) {
      case "whoami":
        console.log(JSON.stringify({ identity: mls.identity.name, fingerprint: mls.fingerprint, data_dir: store.dir }, null, 2));
        return 0;
      case "key-package":
        console.log(Buffer.from(await mls.createKeyPackage()).toString("base64url"));
        return 0;
      default:
        console.error(`unknown command '${command}'\n\n${USAGE}`);
        return 2;
    }
  } finally {
    store.close();
  }
}

async function runRelay(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.error(RELAY_USAGE);
    return 0;
  }
  const relay = await Relay.start(parseRelayConfig(args));
  console.error(`skytale relay listening on ${relay.url}`);
  console.error(`storage: ${relay.storage}`);
  console.error(`relay key (SKYTALE_RELAY_KEY): ${relay.publicKeyBase64}`);
  console.error(`auth: ${relay.config.authSecret ? "bearer tokens required" : "open (loopback only)"}; cover: ${relay.config.cover.mode}`);
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  await relay.close();
  return 0;
}

function printToken(args: string[]): number {
  const { values } = parseArgs({ args, strict: true, options: { secret: { type: "string" }, sub: { type: "string" }, ttl: { type: "string" } } });
  const secret = values.secret ?? process.env.SKYTALE_RELAY_SECRET;
  if (!secret || !values.sub) throw new ConfigError("usage: skytale-mcp token --secret SECRET --sub AGENT [--ttl SECONDS]");
  const ttl = Number(values.ttl ?? 30 * 24 * 3600);
  if (!(ttl > 0)) throw new ConfigError("--ttl must be a positive number of seconds");
  console.log(mintToken(secret, values.sub, ttl));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof NatsSetupError) {
      console.error(`skytale-mcp: ${error.message}`);
      process.exit(1);
    }
    if (error instanceof ConfigError || (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"))) {
      console.error(`skytale-mcp: ${error.message}`);
      process.exit(2);
    }
    const known = error instanceof MlsError || error instanceof StoreError || error instanceof AgentError;
    console.error(known ? `skytale-mcp: ${error.code}: ${error.message}` : error);
    process.exit(1);
  },
);
