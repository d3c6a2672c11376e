/**
 * `skytale-mcp doctor`: checks what new users get wrong, in the order they hit it, and prints a fix
 * for each problem. It reads; it does not create an identity, host a relay or record a relay key.
 */
import { accessSync, constants, existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { AgentConfig } from "../agent/agent.js";
import { agentConfigFromEnv, identityFromEnv } from "../agent/config.js";
import { didKeyOf } from "../mls/didKey.js";
import { linkProverOf } from "../mls/identity.js";
import { isLoopback } from "../relay/config.js";
import { tokenClaims } from "../relay/token.js";
import { AgentStore, DATABASE_FILE } from "../store/agentStore.js";
import { StoreError } from "../store/errors.js";
import { checkRelay, type LinkProver } from "./relayCheck.js";

type Status = "ok" | "warn" | "FAIL";

export interface Finding {
  readonly status: Status;
  readonly topic: string;
  readonly text: string;
  readonly fix?: string;
}

const MIN_NODE = 20;
const DAY_SECONDS = 24 * 3600;

/** Runs every check that applies to `env`; each finding goes to `print` as soon as it is known. */
export async function runDoctor(env: NodeJS.ProcessEnv, print: (finding: Finding) => void): Promise<Finding[]> {
  const findings: Finding[] = [];
  const note = (finding: Finding) => {
    findings.push(finding);
    print(finding);
  };
  note(nodeVersion());
  let name: string;
  try {
    name = identityFromEnv(env);
    note({ status: "ok", topic: "identity", text: name });
  } catch (error) {
    note({ status: "FAIL", topic: "identity", text: (error as Error).message, fix: 'set SKYTALE_IDENTITY in the host\'s "env" to a name such as planner (letters, digits, . _ @ -)' });
    return findings;
  }
  let config: AgentConfig & { readonly dataDir: string };
  try {
    config = agentConfigFromEnv(env);
  } catch (error) {
    note({ status: "FAIL", topic: "configuration", text: (error as Error).message, fix: "correct the variable named above in the host's config (skytale-mcp help lists them all)" });
    return findings;
  }
  const identity = await dataDir(config);
  note(identity.finding);
  if (env.SKYTALE_TOKEN?.trim()) note(token(env.SKYTALE_TOKEN.trim(), name, identity.key));
  for (const finding of await relay(config, env, identity)) note(finding);
  return findings;
}

/** One line per finding, and the fix under it. */
export function formatFinding(finding: Finding): string {
  const head = `${finding.status.padEnd(5)} ${finding.topic}: ${finding.text}`;
  return finding.fix === undefined ? head : `${head}\n      fix: ${finding.fix}`;
}

function nodeVersion(): Finding {
  const major = Number(process.versions.node.split(".")[0]);
  return major >= MIN_NODE
    ? { status: "ok", topic: "node", text: `v${process.versions.node}` }
    : { status: "FAIL", topic: "node", text: `v${process.versions.node} is too old`, fix: `install Node ${MIN_NODE} or newer; the host runs the first node on its PATH` };
}

/** The data dir's finding and, when it could be read, the identity key that proves the link. */
interface IdentityCheck {
  readonly finding: Finding;
  readonly key?: Uint8Array;
  readonly prover?: LinkProver;
  /** Why the link cannot be tried with the agent's own key. */
  readonly unchecked?: string;
}

async function dataDir(config: AgentConfig & { readonly dataDir: string }): Promise<IdentityCheck> {
  const finding = (f: Finding, unchecked: string) => ({ finding: f, unchecked });
  const dir = config.dataDir;
  const topic = "data dir";
  if (!existsSync(join(dir, DATABASE_FILE))) {
    let existing = dir;
    while (!existsSync(existing) && dirname(existing) !== existing) existing = dirname(existing);
    try {
      accessSync(existing, constants.W_OK);
    } catch {
      return finding({ status: "FAIL", topic, text: `${dir} cannot be created: ${existing} is not writable`, fix: "make it writable, or set SKYTALE_DATA_DIR (or SKYTALE_HOME) to a writable dir" }, "no data dir");
    }
    return finding({ status: "ok", topic, text: `${dir} (a new agent: its identity is created on first start)` }, "a new agent has no identity key yet: start it once");
  }
  let store: AgentStore;
  try {
    store = AgentStore.open(dir, { passphrase: config.passphrase });
  } catch (error) {
    if (error instanceof StoreError && error.code === "locked") {
      return finding({ status: "ok", topic, text: `${dir} is in use by a running skytale-mcp (one process per agent: normally your host's)` }, "the agent is running: its whoami shows its own link");
    }
    const fix =
      error instanceof StoreError && error.code === "wrong_key"
        ? "set the SKYTALE_PASSPHRASE this agent was created with (or unset it if it was created without one)"
        : "see the message; to start this agent afresh, move the data dir away (its channels are lost)";
    return finding({ status: "FAIL", topic, text: (error as Error).message, fix }, "the data dir cannot be read");
  }
  try {
    const identity = store.loadIdentity();
    if (identity !== undefined && identity.name !== config.name) {
      return finding({ status: "FAIL", topic, text: `${dir} belongs to agent '${identity.name}', not '${config.name}'`, fix: `set SKYTALE_IDENTITY=${identity.name}, or give '${config.name}' its own SKYTALE_DATA_DIR` }, "the data dir is another agent's");
    }
    const mode = statSync(dir).mode & 0o777;
    const who = identity === undefined ? "no identity yet" : `agent '${identity.name}', key ${didKeyOf(identity.signaturePublicKey)}`;
    const ok: Finding = { status: "ok", topic, text: `${dir} (${who}; mode ${mode.toString(8)})` };
    if (identity === undefined) return finding(ok, "a new agent has no identity key yet: start it once");
    return { finding: ok, key: identity.signaturePublicKey, prover: linkProverOf(identity) };
  } finally {
    store.close();
  }
}

function token(value: string, name: string, key: Uint8Array | undefined): Finding {
  const claims = tokenClaims(value);
  const did = key === undefined ? "DID" : didKeyOf(key);
  const mint = `ask the relay's operator for a new one: skytale-mcp token --sub ${name} --key ${did}`;
  if (claims === undefined) return { status: "FAIL", topic: "token", text: "SKYTALE_TOKEN is not a token minted by skytale-mcp token", fix: mint };
  if (claims.sub !== name) return { status: "FAIL", topic: "token", text: `SKYTALE_TOKEN was issued to '${claims.sub}', not '${name}'`, fix: mint };
  if (key !== undefined && claims.key !== Buffer.from(key).toString("base64url")) {
    return { status: "FAIL", topic: "token", text: `SKYTALE_TOKEN was issued for another identity key than this agent's (${did})`, fix: mint };
  }
  const left = claims.exp - Math.floor(Date.now() / 1000);
  const expires = new Date(claims.exp * 1000).toISOString();
  if (left <= 0) return { status: "FAIL", topic: "token", text: `SKYTALE_TOKEN expired at ${expires}`, fix: mint };
  if (left < DAY_SECONDS) return { status: "warn", topic: "token", text: `SKYTALE_TOKEN expires soon, at ${expires}`, fix: mint };
  return { status: "ok", topic: "token", text: `issued to '${name}', valid until ${expires} (its signature only the relay can check)` };
}

async function relay(config: AgentConfig & { readonly dataDir: string }, env: NodeJS.ProcessEnv, identity: IdentityCheck): Promise<Finding[]> {
  const check = await checkRelay(config, identity.prover, identity.unchecked);
  const url = check.url;
  const findings: Finding[] = [];
  if (check.probe.kind !== "relay") {
    const text = (check.problem ?? "").replace(/^relay_unreachable: /, "");
    if (check.local && check.probe.kind === "none") {
      return [{ status: "ok", topic: "relay", text: `${url}: ${text} (keeping its data in ${config.localRelay?.dir ?? "?"})` }];
    }
    const fix = check.local
      ? `stop the program on that port, or set SKYTALE_LOCAL_RELAY_PORT to a free port for every agent on this machine`
      : check.probe.kind === "none"
        ? "check SKYTALE_RELAY (host and port), that the relay runs (skytale-mcp relay), and firewalls between here and there"
        : "check SKYTALE_RELAY's host and port; a reverse proxy in front of the relay must pass /v1/key and /v1/link (as a WebSocket) to it";
    return [{ status: "FAIL", topic: "relay", text, fix }];
  }
  findings.push({ status: "ok", topic: "relay", text: `${url} is a skytale relay` });
  const published = Buffer.from(check.probe.key).toString("base64url");
  const expected = check.expected;
  if (expected !== undefined && expected.source === "published") {
    findings.push({ status: "ok", topic: "relay key", text: `${published}: not pinned yet; recorded on the first connection`, fix: `to pin it now, set SKYTALE_RELAY_KEY=${published} (compare it with what the relay printed when it started)` });
  } else if (expected !== undefined && Buffer.from(expected.key).toString("base64url") !== published) {
    const fix =
      expected.source === "SKYTALE_RELAY_KEY"
        ? "compare SKYTALE_RELAY_KEY with the key the relay printed when it started, and correct it"
        : `someone may be intercepting the connection; if the relay was re-keyed on purpose, confirm the new key with its operator, then remove its entry from ${expected.pinFile}`;
    findings.push({ status: "FAIL", topic: "relay key", text: `the relay publishes ${published}, not the key ${expected.source === "recorded" ? `recorded in ${expected.pinFile}` : "in SKYTALE_RELAY_KEY"}`, fix });
  } else {
    findings.push({ status: "ok", topic: "relay key", text: `${published} matches ${expected?.source === "recorded" ? "the recorded key" : "SKYTALE_RELAY_KEY"}` });
  }
  if (check.connected) {
    findings.push({ status: "ok", topic: "link", text: "handshake and auth succeeded" });
  } else if (check.unchecked !== undefined) {
    findings.push({ status: "ok", topic: "link", text: `not tried: ${check.unchecked}` });
  } else if (!findings.some((f) => f.status === "FAIL")) {
    const authFailed = check.problem?.startsWith("auth_failed") === true;
    const remote = !isLoopback(new URL(url).hostname.replace(/^\[|\]$/g, ""));
    const fix = authFailed
      ? env.SKYTALE_TOKEN?.trim()
        ? `ask the relay's operator for a new token: skytale-mcp token --sub ${config.name} --key ${identity.key === undefined ? "DID" : didKeyOf(identity.key)}`
        : "this relay requires a token: set SKYTALE_TOKEN (minted by its operator with skytale-mcp token)"
      : remote
        ? "see the message; the relay may be overloaded or a proxy may cut WebSockets"
        : "see the message";
    findings.push({ status: "FAIL", topic: "link", text: check.problem ?? "not connected", fix });
  }
  return findings;
}
