import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { MAX_AUTH_TOKEN_BYTES } from "../wire/linkAuth.js";

/**
 * Bearer tokens: HS256 JWTs (RFC 7519) with `sub` (the agent's name), `key` (its identity key,
 * base64url: the token binds the name to that key), `jti` (a random id to revoke it by), `iat` and
 * `exp`. Minted by `skytale-mcp token`, checked by the relay on Auth together with the link's
 * proof of the key and its revocation list (revocations.ts).
 */
export type TokenCheck = { ok: true; claims: TokenClaims } | { ok: false; reason: "malformed" | "bad_signature" | "expired" | "wrong_agent" | "wrong_key" };

/** What a token says about itself. `id` is absent in tokens minted before tokens had ids. */
export interface TokenClaims {
  readonly sub: string;
  readonly key: string;
  readonly id: string | undefined;
  readonly iat: number;
  readonly exp: number;
}

/** A week: long enough for an agent its host restarts now and then, short enough that a lost token dies. */
export const DEFAULT_TOKEN_TTL_SECONDS = 7 * 24 * 3600;

const HEADER = Buffer.from(JSON.stringify({ alg: "HS256", typ: "JWT" })).toString("base64url");
const MAX_TOKEN_LENGTH = MAX_AUTH_TOKEN_BYTES;

function sign(secret: string, signingInput: string): Buffer {
  return createHmac("sha256", secret).update(signingInput).digest();
}

/** A token for `agent` holding identity key `key`, valid for `ttlSeconds` from `nowSeconds`. */
export function mintToken(secret: string, agent: string, key: Uint8Array, ttlSeconds: number, nowSeconds = Math.floor(Date.now() / 1000)): string {
  if (!secret) throw new Error("an auth secret is required to mint tokens");
  if (!(ttlSeconds > 0)) throw new Error("ttl must be a positive number of seconds");
  if (key.length !== 32) throw new Error("a token names a 32-byte identity key");
  const claims = {
    sub: agent,
    key: Buffer.from(key).toString("base64url"),
    jti: randomBytes(12).toString("base64url"),
    iat: nowSeconds,
    exp: nowSeconds + Math.floor(ttlSeconds),
  };
  const payload = Buffer.from(JSON.stringify(claims)).toString("base64url");
  return `${HEADER}.${payload}.${sign(secret, `${HEADER}.${payload}`).toString("base64url")}`;
}

/**
 * What a token claims, read without the secret: for telling a user that a token is expired or for
 * someone else before a relay refuses it. Never a reason to trust it.
 */
export function tokenClaims(token: string): TokenClaims | undefined {
  const parts = token.split(".");
  if (token.length > MAX_TOKEN_LENGTH || parts.length !== 3 || parts[0] !== HEADER) return undefined;
  let claims: { sub?: unknown; key?: unknown; jti?: unknown; iat?: unknown; exp?: unknown };
  try {
    claims = JSON.parse(Buffer.from(parts[1] as string, "base64url").toString("utf8")) as typeof claims;
  } catch {
    return undefined;
  }
  const { sub, key, jti, iat, exp } = claims;
  if (typeof sub !== "string" || typeof key !== "string" || typeof exp !== "number" || typeof iat !== "number") return undefined;
  if (jti !== undefined && typeof jti !== "string") return undefined;
  return { sub, key, id: jti, iat, exp };
}

/** Verifies signature, expiry and that the token was issued to `agent` holding `key`. */
export function checkToken(secret: string, token: string, agent: string, key: Uint8Array, nowSeconds = Math.floor(Date.now() / 1000)): TokenCheck {
  if (token.length > MAX_TOKEN_LENGTH) return { ok: false, reason: "malformed" };
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== HEADER) return { ok: false, reason: "malformed" };
  const [header, payload, signature] = parts as [string, string, string];
  const expected = sign(secret, `${header}.${payload}`);
  const given = Buffer.from(signature, "base64url");
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return { ok: false, reason: "bad_signature" };
  const claims = tokenClaims(token);
  if (claims === undefined) return { ok: false, reason: "malformed" };
  if (claims.exp <= nowSeconds) return { ok: false, reason: "expired" };
  if (claims.sub !== agent) return { ok: false, reason: "wrong_agent" };
  if (claims.key !== Buffer.from(key).toString("base64url")) return { ok: false, reason: "wrong_key" };
  return { ok: true, claims };
}
