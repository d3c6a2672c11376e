import { BUCKETS } from "../wire/buckets.js";
import { cellOf, COVER_MODES, DEFAULT_COVER, MAX_COVER_RATE, type CoverConfig, type CoverMode } from "../wire/cover.js";
import { TransportError } from "./errors.js";

const RELAY_KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Decodes a relay public key written as base64url (43 characters, no padding). */
export function parseRelayKey(text: string, source: string): Uint8Array {
  const trimmed = text.trim();
  // Node's decoder skips characters it does not know, so the alphabet is checked first.
  const key = BASE64URL.test(trimmed) ? new Uint8Array(Buffer.from(trimmed, "base64url")) : new Uint8Array(0);
  if (key.length !== RELAY_KEY_BYTES) {
    throw new TransportError("bad_config", `${source} must be a 32-byte X25519 public key in base64url (43 characters)`);
  }
  return key;
}

/** The pinned relay key from SKYTALE_RELAY_KEY, or undefined for trust on first use. */
export function relayKeyFromEnv(env: NodeJS.ProcessEnv = process.env): Uint8Array | undefined {
  const text = env.SKYTALE_RELAY_KEY?.trim();
  return text ? parseRelayKey(text, "SKYTALE_RELAY_KEY") : undefined;
}

/** The bearer token from SKYTALE_TOKEN; empty when unset (an open loopback relay ignores it). */
export function tokenFromEnv(env: NodeJS.ProcessEnv = process.env): string {
  return env.SKYTALE_TOKEN?.trim() ?? "";
}

/**
 * Cover traffic from SKYTALE_COVER (off | poisson | constant, default poisson), SKYTALE_COVER_RATE
 * (frames per second each way) and SKYTALE_COVER_CELL (bytes of every frame, a bucket size);
 * unset ones take the mode's defaults (DEFAULT_COVER).
 */
export function coverFromEnv(env: NodeJS.ProcessEnv = process.env): CoverConfig {
  const modeText = env.SKYTALE_COVER?.trim().toLowerCase() || "poisson";
  if (!(COVER_MODES as readonly string[]).includes(modeText)) {
    throw new TransportError("bad_config", `SKYTALE_COVER must be one of ${COVER_MODES.join(", ")} (got "${modeText}")`);
  }
  const mode = modeText as CoverMode;
  const defaults = DEFAULT_COVER[mode];
  if (mode === "off") return defaults;
  const rateText = env.SKYTALE_COVER_RATE?.trim();
  const rate = rateText ? (/^\d+(\.\d+)?$/.test(rateText) ? Number(rateText) : Number.NaN) : defaults.rate;
  if (!(rate > 0 && rate <= MAX_COVER_RATE)) {
    throw new TransportError(
      "bad_config",
      `SKYTALE_COVER_RATE must be a number of frames per second above 0 and at most ${MAX_COVER_RATE} (got "${rateText}"); use SKYTALE_COVER=off for none`,
    );
  }
  const cellText = env.SKYTALE_COVER_CELL?.trim();
  const cell = cellText ? (/^\d+$/.test(cellText) ? Number(cellText) : Number.NaN) : cellOf(defaults);
  if (!(BUCKETS as readonly number[]).includes(cell)) {
    throw new TransportError("bad_config", `SKYTALE_COVER_CELL must be one of the frame sizes ${BUCKETS.join(", ")} (got "${cellText}")`);
  }
  return { mode, rate, cell };
}
