import { fetchRelayKey, type RelayKeyPins } from "./relayKeyPin.js";
import { keyUrl } from "./relayUrl.js";

/** Where the relay key comes from: configuration, or the trust-on-first-use record. */
export type RelayKeySource = { readonly kind: "configured"; readonly key: Uint8Array } | { readonly kind: "recorded"; readonly pins: RelayKeyPins };

/** The key to pin for one connection attempt, what to say if the relay fails it, and what to record once it passes. */
export interface RelayKeyChoice {
  readonly key: Uint8Array;
  readonly mismatch: string;
  readonly record?: () => void;
}

/**
 * The configured key; else the recorded one; else (first use) the key the relay publishes,
 * recorded only after the relay has proved in the handshake that it holds it.
 */
export async function chooseRelayKey(base: string, source: RelayKeySource, signal: AbortSignal): Promise<RelayKeyChoice> {
  if (source.kind === "configured") {
    return {
      key: source.key,
      mismatch:
        `the relay at ${base} could not prove it holds the configured relay key (SKYTALE_RELAY_KEY): ` +
        "it is not the relay you configured, or someone is intercepting the connection",
    };
  }
  const pins = source.pins;
  const recorded = pins.get(base);
  if (recorded !== undefined) {
    return {
      key: recorded,
      mismatch:
        `THE RELAY KEY CHANGED: the relay at ${base} does not hold the key recorded in ${pins.file} when this agent ` +
        "first connected. Someone may be intercepting the connection. If the relay was re-keyed on purpose, confirm the " +
        `new key with its operator, then remove the old entry from ${pins.file}. Not reconnecting.`,
    };
  }
  const fetched = await fetchRelayKey(keyUrl(base), signal);
  return {
    key: fetched,
    mismatch: `the relay at ${base} does not hold the key it publishes at /v1/key; not recording it`,
    record: () => pins.record(base, fetched),
  };
}
