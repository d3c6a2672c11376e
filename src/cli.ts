#!/usr/bin/env node
// The skytale-mcp command. The MCP stdio server and the relay are added by later work; what is
// here now works on an agent's own data dir.
import { openAgent } from "./index.js";
import { MlsError } from "./mls/errors.js";
import { StoreError } from "./store/errors.js";

const USAGE = `usage: skytale-mcp <command>

commands:
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

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    const known = error instanceof MlsError || error instanceof StoreError;
    console.error(known ? `skytale-mcp: ${error.code}: ${error.message}` : error);
    process.exit(1);
  },
);
