#!/usr/bin/env node
// The skytale-mcp command: by default the MCP stdio server of one agent (stdout is JSON-RPC
// only); also the same server over HTTP, the relay, token minting, the demo, and helpers on an
// agent's own data dir (doctor, whoami, key-package).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Agent, type AgentConfig } from "./agent/agent.js";
import { agentConfigFromEnv } from "./agent/config.js";
import { AgentError } from "./agent/types.js";
import { formatFinding, runDoctor } from "./commands/doctor.js";
import { checkRelay } from "./commands/relayCheck.js";
import { revokeCommand, tokenCommand } from "./commands/tokens.js";
import { USAGE } from "./commands/usage.js";
import { runDemo } from "./demo.js";
import { openAgent } from "./index.js";
import { HttpConfigError, runHttpServer } from "./mcp/http.js";
import { runStdioServer } from "./mcp/stdio.js";
import { MlsError } from "./mls/errors.js";
import { ConfigError, parseRelayConfig, RELAY_USAGE } from "./relay/config.js";
import { NatsSetupError } from "./relay/jetstream/streams.js";
import { Relay } from "./relay/relayServer.js";
import { RevocationError } from "./relay/revocations.js";
import { StoreError } from "./store/errors.js";
import { linkProverOf } from "./mls/identity.js";

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** The agent's configuration; anything wrong in the environment is a usage error (exit 2). */
function configFromEnv(): AgentConfig & { readonly dataDir: string } {
  try {
    return agentConfigFromEnv();
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
}

async function serve(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, strict: true, options: { http: { type: "boolean" }, host: { type: "string" }, port: { type: "string" } } });
  if (!values.http && (values.host !== undefined || values.port !== undefined)) throw new ConfigError("--host and --port go with --http");
  const port = values.port === undefined ? undefined : Number(values.port);
  if (port !== undefined && !(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new ConfigError("--port must be 0-65535");
  const agent = await Agent.open(configFromEnv());
  if (!values.http) {
    await runStdioServer(agent, { version: version() });
    return new Promise<number>(() => undefined); // runs until the host closes stdin or signals
  }
  const http = await runHttpServer(agent, { version: version(), host: values.host, port, secret: process.env.SKYTALE_MCP_SECRET }).catch(async (error: unknown) => {
    await agent.close();
    throw error;
  });
  await new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  console.error("skytale-mcp: shutting down");
  await http.close();
  await agent.close();
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case undefined:
    case "serve":
      return serve(rest);
    case "help":
    case "--help":
    case "-h":
      console.log(USAGE);
      return 0;
    case "version":
    case "--version":
    case "-V":
    case "-v":
      console.log(version());
      return 0;
    case "demo":
      await runDemo(fileURLToPath(import.meta.url));
      return 0;
    case "relay":
      return runRelay(rest);
    case "token": {
      const minted = tokenCommand(rest, process.env);
      if (minted.warning !== undefined) console.error(`skytale-mcp: ${minted.warning}`);
      console.log(minted.token);
      console.error(minted.note);
      return 0;
    }
    case "revoke":
      console.error(revokeCommand(rest, process.env));
      return 0;
    case "doctor":
      return doctor();
    case "whoami":
      return whoami();
    case "key-package":
      return keyPackage();
    default:
      console.error(`unknown command '${command}'\n\n${USAGE}`);
      return 2;
  }
}

async function doctor(): Promise<number> {
  console.log(`skytale-mcp ${version()} doctor`);
  const findings = await runDoctor(process.env, (finding) => console.log(formatFinding(finding)));
  const failed = findings.filter((f) => f.status === "FAIL").length;
  console.log(failed === 0 ? "no problems found" : `${failed} problem${failed === 1 ? "" : "s"} found`);
  return failed === 0 ? 0 : 1;
}

async function whoami(): Promise<number> {
  const config = configFromEnv();
  const { mls, store } = await openAgent(config.name, { dataDir: config.dataDir, passphrase: config.passphrase });
  const me = { identity: mls.identity.name, did: mls.did, safety_code: mls.safetyCode, data_dir: store.dir };
  store.close();
  const { url, connected, problem } = await checkRelay(config, linkProverOf(mls.identity));
  console.log(JSON.stringify({ ...me, relay: { url, connected, ...(problem === undefined ? {} : { problem }) } }, null, 2));
  return 0;
}

async function keyPackage(): Promise<number> {
  const config = configFromEnv();
  const { mls, store } = await openAgent(config.name, { dataDir: config.dataDir, passphrase: config.passphrase });
  try {
    console.log(Buffer.from(await mls.createKeyPackage()).toString("base64url"));
    return 0;
  } finally {
    store.close();
  }
}

async function runRelay(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(RELAY_USAGE);
    return 0;
  }
  if (args.includes("--auth-secret")) {
    console.error("skytale-mcp: the secret was given on the command line, where every local user can read it (ps); prefer SKYTALE_RELAY_SECRET or --auth-secret-file");
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    if (error instanceof NatsSetupError) {
      console.error(`skytale-mcp: ${error.message}`);
      process.exit(1);
    }
    const usage = error instanceof ConfigError || error instanceof HttpConfigError || error instanceof RevocationError || (error instanceof TypeError && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS"));
    if (usage) {
      console.error(`skytale-mcp: ${error.message}`);
      process.exit(2);
    }
    const known = error instanceof MlsError || error instanceof StoreError || error instanceof AgentError;
    console.error(known ? `skytale-mcp: ${error.code}: ${error.message}` : error);
    process.exit(1);
  },
);
