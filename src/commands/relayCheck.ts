import { join } from "node:path";
import type { AgentConfig } from "../agent/agent.js";
import { toAgentError } from "../agent/errors.js";
import { portTaken } from "../agent/localRelay.js";
import { TransportError } from "../transport/errors.js";
import { RelayClient, type RelayClientOptions } from "../transport/relayClient.js";
import { RELAY_KEY_PIN_FILE, RelayKeyPins } from "../transport/relayKeyPin.js";
import { probeRelay, type RelayProbe } from "../transport/relayProbe.js";
import { relayBases } from "../transport/relayEndpoints.js";

/** Where the key an agent expects of its relay comes from. */
export type KeySource = "SKYTALE_RELAY_KEY" | "recorded" | "published";

/** One look at an agent's relay, as the agent would connect, without recording or changing anything. */
export interface RelayCheck {
  readonly url: string;
  /** The shared local relay (SKYTALE_RELAY unset). */
  readonly local: boolean;
  readonly probe: RelayProbe;
  /** The key the relay must prove it holds, when it published one. */
  readonly expected?: { readonly key: Uint8Array; readonly source: KeySource; readonly pinFile: string };
  readonly connected: boolean;
  /** Why not connected, as "code: sentence" (the codes tool errors use). */
  readonly problem?: string;
  /** Why the link was not tried (no identity to prove it with). */
  readonly unchecked?: string;
}

/** What proves the agent's key on a link (identity.ts, linkProverOf). */
export type LinkProver = RelayClientOptions["identity"];

const CHECK_TIMEOUT_MS = 8000;

/**
 * Probes the relay, then runs the link handshake and Auth as `config`'s agent would, with its
 * identity key (`prover`); without it the link is not tried.
 */
export async function checkRelay(config: AgentConfig & { readonly dataDir: string }, prover: LinkProver | undefined, unchecked = "no identity key to prove it with"): Promise<RelayCheck> {
  const local = config.relayUrl === undefined;
  const url = config.relayUrl ?? config.localRelay?.url ?? "";
  // Of a clustered relay's nodes, the first is probed; the link below fails over like the agent's.
  const base = relayBases(url)[0]!;
  const probe = await probeRelay(base);
  if (probe.kind !== "relay") return { url, local, probe, connected: false, problem: `relay_unreachable: ${unreachable(config, base, probe)}` };

  const pinFile = join(config.dataDir, RELAY_KEY_PIN_FILE);
  const recorded = config.relayKey === undefined ? new RelayKeyPins(pinFile).get(base) : undefined;
  const expected = {
    key: config.relayKey ?? recorded ?? probe.key,
    source: config.relayKey !== undefined ? "SKYTALE_RELAY_KEY" : recorded !== undefined ? "recorded" : "published",
    pinFile,
  } as const;
  if (prover === undefined) return { url, local, probe, expected, connected: false, unchecked };
  const client = new RelayClient({
    url,
    agent: config.name,
    identity: prover,
    token: config.token ?? "",
    relayKey: expected.key,
    cover: { mode: "off", rate: 0 },
    requestTimeoutMs: CHECK_TIMEOUT_MS,
    handshakeTimeoutMs: CHECK_TIMEOUT_MS,
  });
  try {
    await client.connect();
    return { url, local, probe, expected, connected: true };
  } catch (error) {
    const problem = error instanceof TransportError && error.code === "relay_key_mismatch" ? `relay_key_mismatch: ${mismatch(base, expected.source, pinFile)}` : codeAndMessage(error);
    return { url, local, probe, expected, connected: false, problem };
  } finally {
    await client.close();
  }
}

function unreachable(config: AgentConfig, base: string, probe: Exclude<RelayProbe, { kind: "relay" }>): string {
  const port = config.localRelay?.port;
  if (config.relayUrl === undefined && port !== undefined) {
    return probe.kind === "none" ? `no relay runs on 127.0.0.1:${port} yet; the first agent to start hosts one there` : portTaken(port, probe.detail);
  }
  if (probe.kind === "none") return `cannot reach the relay at ${base}: ${probe.detail}`;
  return `${base} is not a skytale relay: ${probe.detail}`;
}

function mismatch(base: string, source: KeySource, pinFile: string): string {
  if (source === "SKYTALE_RELAY_KEY") return `the relay at ${base} does not hold the key in SKYTALE_RELAY_KEY`;
  if (source === "recorded") return `the relay at ${base} does not hold the key recorded in ${pinFile} when this agent first connected`;
  return `the relay at ${base} does not hold the key it publishes`;
}

function codeAndMessage(error: unknown): string {
  const { code, message } = toAgentError(error);
  return `${code}: ${code === "internal" && error instanceof Error ? error.message : message}`;
}
