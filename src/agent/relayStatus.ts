import type { RelayClient } from "../transport/relayClient.js";
import { toAgentError } from "./errors.js";
import type { LocalRelayHost } from "./localRelay.js";
import type { RelayStatus } from "./types.js";

/**
 * The status of an agent's relay link: the local relay's diagnosis first (another program on its
 * port is the cause however the link fails), else the last failure the client saw, in the codes
 * tool errors use.
 */
export function relayStatusOf(url: string, relay: RelayClient, local: LocalRelayHost | undefined): RelayStatus {
  if (relay.state === "connected") return { url, connected: true };
  const taken = local?.problem;
  if (taken !== undefined) return { url, connected: false, problem: { code: "relay_unreachable", message: taken, lasting: true } };
  const failure = relay.lastFailure;
  if (failure === undefined) return { url, connected: false };
  const { code, message } = toAgentError(failure);
  return { url, connected: false, problem: { code, message, lasting: relay.state === "failed" } };
}
