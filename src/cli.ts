#!/usr/bin/env node
// The skytale-mcp command: the relay, token minting, and helpers on an agent's own data dir.
// The MCP stdio server (the default command) is added by later work.
import { parseArgs } from "node:util";
import { openAgent } from "./index.js";
import { MlsError } from "./mls/errors.js";
import { ConfigError, parseRelayConfig, RELAY_USAGE } from "./relay/config.js";
import { Relay } from "./relay/relayServer.js";
import { mintToken } from "./relay/token.js";
import { StoreError } from "./store/errors.js";

const USAGE = `usage: skytale-mcp <command>

commands:
  relay [options] run a relay (see skytale-mcp relay --help)
  token --secret S --sub AGENT [--ttl SECONDS]
                print a bearer token for AGENT that a relay with auth secret S accepts
  whoami        print this agent's name, fingerprint and data dir (creates the identity on first use)
  key-package   print a fresh single-use key package (base64url) for another agent to add you with

environment:
  SKYTALE_IDENTITY    the agent's name (required)
  SKYTALE_DATA_DIR    data dir (default ~/.skytale/<identity>)
  SKYTALE_PASSPHRASE  derive the at-rest key from this instead of a key file`;

async function main(argv: string[]): Promise<number> {
  const [command] = argv;
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    console.error(USAGE);
    return command === undefined ? 2 : 0;
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
    if (error instanceof ConfigError || (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"))) {
      console.error(`skytale-mcp: ${error.message}`);
      process.exit(2);
    }
    const known = error instanceof MlsError || error instanceof StoreError;
    console.error(known ? `skytale-mcp: ${error.code}: ${error.message}` : error);
    process.exit(1);
  },
);
