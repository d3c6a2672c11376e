import { randomBytes } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, writeSync } from "node:fs";
import { dirname } from "node:path";
import { parseRelayKey } from "./env.js";
import { TransportError } from "./errors.js";

/** Suggested name of the record in an agent's data dir. */
export const RELAY_KEY_PIN_FILE = "relay-keys.json";

/** A /v1/key answer is 43 characters; anything much longer is not one. */
export const MAX_KEY_ANSWER_BYTES = 1024;

/**
 * Trust on first use: the relay keys this agent has accepted, one per relay URL, in a 0600 JSON
 * file. A recorded key is never replaced here; when a relay stops matching it the client fails
 * loudly and a person decides (by editing or deleting the file).
 */
export class RelayKeyPins {
  constructor(readonly file: string) {}

  /** The key recorded for `relay`, if any. */
  get(relay: string): Uint8Array | undefined {
    const text = this.read()[relay];
    return text === undefined ? undefined : parseRelayKey(text, `the key recorded for ${relay} in ${this.file}`);
  }

  /** Records the first key seen for `relay`; refuses to replace a different one. */
  record(relay: string, key: Uint8Array): void {
    const all = this.read();
    const encoded = Buffer.from(key).toString("base64url");
    const existing = all[relay];
    if (existing === encoded) return;
    if (existing !== undefined) {
      throw new TransportError("relay_key_mismatch", `a different key for ${relay} is already recorded in ${this.file}`);
    }
    this.write({ ...all, [relay]: encoded });
  }

  private read(): Record<string, string> {
    let text: string;
    try {
      text = readFileSync(this.file, "utf8");
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === "ENOENT") return {};
      throw new TransportError("bad_config", `cannot read the relay key record ${this.file}: ${(cause as Error).message}`, { cause });
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (cause) {
      throw new TransportError("bad_config", `the relay key record ${this.file} is not valid JSON`, { cause });
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed) || !Object.values(parsed).every((v) => typeof v === "string")) {
      throw new TransportError("bad_config", `the relay key record ${this.file} must map relay URLs to keys`);
    }
    return parsed as Record<string, string>;
  }

  /** Write-then-rename, so a crash leaves the old record or the new one, never half of one. */
  private write(all: Record<string, string>): void {
    const temp = `${this.file}.${randomBytes(6).toString("hex")}.tmp`;
    try {
      mkdirSync(dirname(this.file), { recursive: true, mode: 0o700 });
      const fd = openSync(temp, "wx", 0o600);
      try {
        writeSync(fd, `${JSON.stringify(all, null, 2)}\n`);
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
      renameSync(temp, this.file);
    } catch (cause) {
      rmSync(temp, { force: true });
      throw new TransportError("bad_config", `cannot write the relay key record ${this.file}: ${(cause as Error).message}`, { cause });
    }
  }
}

/** Asks the relay for its public key (GET /v1/key), for trust on first use. */
export async function fetchRelayKey(url: string, signal: AbortSignal): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { signal, redirect: "error" });
  } catch (cause) {
    throw new TransportError("unreachable", `cannot fetch the relay key from ${url}: ${fetchFailure(cause)}`, { cause });
  }
  if (!response.ok || response.body === null) {
    await response.body?.cancel();
    throw new TransportError("unreachable", `the relay key endpoint ${url} answered HTTP ${response.status}`);
  }
  const text = await readBounded(response.body, MAX_KEY_ANSWER_BYTES, url);
  try {
    return parseRelayKey(text, `the answer of ${url}`);
  } catch (cause) {
    throw new TransportError("protocol_error", (cause as Error).message, { cause });
  }
}

/** Why fetch() failed: it hides the socket's reason (ECONNREFUSED, ENOTFOUND) one level down. */
export function fetchFailure(error: unknown): string {
  const cause = (error as { cause?: unknown }).cause;
  if (cause instanceof Error) return cause.message;
  return error instanceof Error ? error.message : String(error);
}

/** The whole body as UTF-8, refused past `limit` bytes (an answer from outside is never read unbounded). */
export async function readBounded(body: ReadableStream<Uint8Array>, limit: number, url: string): Promise<string> {
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const chunk = await reader.read().catch((cause: unknown) => {
      throw new TransportError("unreachable", `reading the relay key from ${url} failed: ${(cause as Error).message}`, { cause });
    });
    if (chunk.done) break;
    total += chunk.value.length;
    if (total > limit) {
      await reader.cancel();
      throw new TransportError("protocol_error", `the relay key endpoint ${url} answered more than ${limit} bytes`);
    }
    chunks.push(chunk.value);
  }
  return Buffer.concat(chunks).toString("utf8");
}
