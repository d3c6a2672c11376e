import { parseRelayKey } from "./env.js";
import { fetchFailure, MAX_KEY_ANSWER_BYTES, readBounded } from "./relayKeyPin.js";
import { keyUrl } from "./relayUrl.js";

/**
 * What answers at a relay's address, from one GET of its public key (/v1/key): a skytale relay
 * (with the key it publishes), another program (a web server, a dev server's port), something that
 * took the connection and said nothing, or nothing at all.
 */
export type RelayProbe =
  | { readonly kind: "relay"; readonly key: Uint8Array }
  | { readonly kind: "other"; readonly detail: string }
  | { readonly kind: "silent"; readonly detail: string }
  | { readonly kind: "none"; readonly detail: string };

const DEFAULT_PROBE_MS = 2000;

/** Asks `base` (ws:// or wss://, as relayBase gives it) for its key and says what answered. */
export async function probeRelay(base: string, timeoutMs = DEFAULT_PROBE_MS): Promise<RelayProbe> {
  const url = keyUrl(base);
  let response: Response;
  try {
    response = await fetch(url, { signal: AbortSignal.timeout(timeoutMs), redirect: "manual" });
  } catch (error) {
    if ((error as Error).name === "TimeoutError") return { kind: "silent", detail: `nothing answered GET /v1/key within ${timeoutMs} ms` };
    return { kind: "none", detail: fetchFailure(error) };
  }
  if (response.status !== 200 || response.body === null) {
    await response.body?.cancel();
    return { kind: "other", detail: `it answered GET /v1/key with HTTP ${response.status}` };
  }
  try {
    const text = await readBounded(response.body, MAX_KEY_ANSWER_BYTES, url);
    return { kind: "relay", key: parseRelayKey(text, `the answer of ${url}`) };
  } catch {
    return { kind: "other", detail: "its answer to GET /v1/key is not a relay key" };
  }
}
