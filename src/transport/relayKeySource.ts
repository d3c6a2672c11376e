import { TransportError } from "./errors.js";
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
 * The key to pin for a link to `base`, one of the relay's nodes `bases` (one relay, one key): the
 * configured key; else the one recorded for any of the nodes; else (first use) the key `base`
 * publishes, recorded for every node only after it has proved in the handshake that it holds it.
 */
export async function chooseRelayKey(bases: readonly string[], base: string, source: RelayKeySource, signal: AbortSignal): Promise<RelayKeyChoice> {
  if (source.kind === "configured") {
    return {
      key: source.key,
      mismatch:
        `the relay at ${base} could not prove it holds the configured relay key (SKYTALE_RELAY_KEY): ` +
        "it is not the relay you configured, or someone is intercepting the connection",
    };
  }
  const pins = source.pins;
  const known = bases.flatMap((b) => {
    const key = pins.get(b);
    return key === undefined ? [] : [{ base: b, key }];
  });
  if (new Set(known.map((k) => Buffer.from(k.key).toString("base64url"))).size > 1) {
    throw new TransportError(
      "relay_key_mismatch",
      `the relay URLs ${bases.join(", ")} have different keys recorded in ${pins.file}: they are not one relay. Someone may be intercepting a connection; check with the relay's operator. Not connecting.`,
    );
  }
  const recorded = known[0]?.key;
  if (recorded !== undefined) {
    return {
      key: recorded,
      // The other nodes of the list are the same relay: they must hold the same key.
      record: () => bases.forEach((b) => pins.record(b, recorded)),
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
    record: () => bases.forEach((b) => pins.record(b, fetched)),
  };
}
