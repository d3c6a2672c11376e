import { TransportError } from "./errors.js";

/** The relay's base URL, e.g. `ws://127.0.0.1:8480`: checked and without a trailing slash. */
export function relayBase(url: string): string {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new TransportError("bad_config", "the relay URL is not a valid URL");
  }
  if (parsed.protocol !== "ws:" && parsed.protocol !== "wss:") {
    throw new TransportError("bad_config", "the relay URL must start with ws:// or wss://");
  }
  // Credentials in a URL end up in logs and process lists; tokens go in SKYTALE_TOKEN.
  if (parsed.username || parsed.password || parsed.search || parsed.hash) {
    throw new TransportError("bad_config", "the relay URL must not carry credentials, a query or a fragment");
  }
  const path = parsed.pathname.replace(/\/+$/, "").replace(/\/v1\/link$/, "");
  return `${parsed.protocol}//${parsed.host}${path}`;
}

/** The WebSocket endpoint of the link. */
export function linkUrl(base: string): string {
  return `${base}/v1/link`;
}

/** The HTTP endpoint that answers the relay's public key, on the same host and port. */
export function keyUrl(base: string): string {
  return `${base.replace(/^ws/, "http")}/v1/key`;
}
