import { parseArgs } from "node:util";
import { keyOfDidKey } from "../mls/didKey.js";
import { readSecretFile } from "../relay/authSecret.js";
import { assertStrongSecret, ConfigError } from "../relay/config.js";
import { appendRevocation, revocationLine } from "../relay/revocations.js";
import { DEFAULT_TOKEN_TTL_SECONDS, mintToken, tokenClaims } from "../relay/token.js";

export const TOKEN_USAGE =
  "usage: skytale-mcp token --sub AGENT --key DID [--ttl SECONDS] [--secret-file F] (the secret from F or SKYTALE_RELAY_SECRET; DID: the agent's did:key, from its skytale-mcp whoami)";
export const REVOKE_USAGE = "usage: skytale-mcp revoke (--id TOKEN_ID | --sub AGENT) [--revocations F] (F defaults to SKYTALE_RELAY_REVOCATIONS)";

/** What `skytale-mcp token` prints: the token on stdout, its id and expiry for the operator on stderr. */
export interface MintedToken {
  readonly token: string;
  readonly note: string;
  /** Set when the secret came on the command line. */
  readonly warning: string | undefined;
}

/** `skytale-mcp token`: a bearer token binding a name to an identity key. */
export function tokenCommand(args: string[], env: NodeJS.ProcessEnv, nowSeconds = Math.floor(Date.now() / 1000)): MintedToken {
  const { values } = parseArgs({
    args,
    strict: true,
    options: { secret: { type: "string" }, "secret-file": { type: "string" }, sub: { type: "string" }, key: { type: "string" }, ttl: { type: "string" } },
  });
  if (values.secret !== undefined && values["secret-file"] !== undefined) throw new ConfigError("give --secret or --secret-file, not both");
  let secret: string | undefined;
  try {
    secret = values.secret ?? (values["secret-file"] !== undefined ? readSecretFile(values["secret-file"]) : undefined) ?? (env.SKYTALE_RELAY_SECRET || undefined);
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  if (secret === undefined || !values.sub || !values.key) throw new ConfigError(TOKEN_USAGE);
  assertStrongSecret(secret);
  const ttl = Number(values.ttl ?? DEFAULT_TOKEN_TTL_SECONDS);
  if (!(ttl > 0)) throw new ConfigError("--ttl must be a positive number of seconds");
  let key: Uint8Array;
  try {
    key = keyOfDidKey(values.key);
  } catch (error) {
    throw new ConfigError(`--key: ${(error as Error).message}`);
  }
  const token = mintToken(secret, values.sub, key, ttl, nowSeconds);
  const claims = tokenClaims(token);
  const expires = new Date((claims?.exp ?? 0) * 1000).toISOString();
  return {
    token,
    note: `token id ${claims?.id ?? "?"} for '${values.sub}', expires ${expires}; revoke it with: skytale-mcp revoke --id ${claims?.id ?? "?"}`,
    warning: values.secret !== undefined ? "the secret was given on the command line, where every local user can read it (ps); prefer SKYTALE_RELAY_SECRET or --secret-file" : undefined,
  };
}

/** `skytale-mcp revoke`: appends a revocation to the relay's file; returns what it wrote. */
export function revokeCommand(args: string[], env: NodeJS.ProcessEnv, nowSeconds = Math.floor(Date.now() / 1000)): string {
  const { values } = parseArgs({ args, strict: true, options: { id: { type: "string" }, sub: { type: "string" }, revocations: { type: "string" } } });
  const file = values.revocations ?? (env.SKYTALE_RELAY_REVOCATIONS?.trim() || undefined);
  if (file === undefined || (values.id === undefined) === (values.sub === undefined)) throw new ConfigError(REVOKE_USAGE);
  let line: string;
  try {
    line = revocationLine(values.id !== undefined ? { id: values.id } : { sub: values.sub ?? "", nowSeconds });
  } catch (error) {
    throw new ConfigError((error as Error).message);
  }
  appendRevocation(file, line);
  return `${file}: ${line} (relays reading this file drop the links within a second or two)`;
}
