import { createHmac, timingSafeEqual } from "node:crypto";
import { AgentError } from "./types.js";

/**
 * Invite tokens and join requests.
 *
 * A token holds the channel, its group id, the relay (URL and key, so the joiner can pin it from
 * a trusted source), the inviter (name and identity key: the joiner checks that the group it is
 * admitted to has the inviter in it, and pins the inviter), the channel's creator (the joiner
 * checks the group's genesis names it: genesis.ts), the invite id and secret, and the expiry. The joiner sends a JoinRequest (relayed opaque into the channel's archive) with a fresh
 * key package and a MAC under the secret; any member that knows the invite checks it and commits
 * the Add, or refuses it with a JoinReply to the joiner's inbox (used up, expired, revoked) under
 * a MAC of the same secret, so that only a holder of the invite can make one.
 */
const PREFIX = "skytale-invite-v2.";
const OLD_PREFIX = "skytale-invite-v1.";
const MAC_LABEL = "skytale join request v1";
const REPLY_MAC_LABEL = "skytale join reply v1";
/** A JoinReply is a few hundred bytes; anything longer is not one. */
const MAX_REPLY_BYTES = 1024;
const MAX_TOKEN_LENGTH = 4096;

export interface InviteToken {
  readonly channel: string;
  readonly groupId: Uint8Array;
  readonly relayUrl: string;
  readonly relayKey: Uint8Array;
  /** The member who made the invite. */
  readonly inviter: { readonly name: string; readonly key: Uint8Array };
  /** The identity key of the channel's creator; undefined for a channel made before channels had a genesis. */
  readonly creator?: Uint8Array | undefined;
  readonly id: Uint8Array;
  readonly secret: Uint8Array;
  /** Unix seconds. */
  readonly expiresAt: number;
}

const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64url");
const unb64 = (s: unknown, bytes: number, what: string): Uint8Array => {
  const out = typeof s === "string" ? new Uint8Array(Buffer.from(s, "base64url")) : new Uint8Array();
  if (out.length !== bytes) throw new AgentError("bad_request", `the invite's ${what} is malformed`);
  return out;
};

export function encodeInvite(t: InviteToken): string {
  const body = {
    c: t.channel, g: b64(t.groupId), r: t.relayUrl, k: b64(t.relayKey), n: t.inviter.name, p: b64(t.inviter.key),
    ...(t.creator ? { o: b64(t.creator) } : {}),
    i: b64(t.id), s: b64(t.secret), e: t.expiresAt,
  };
  return PREFIX + Buffer.from(JSON.stringify(body)).toString("base64url");
}

/** Parses a token; bad_request with a clear sentence for anything malformed. */
export function decodeInvite(token: string): InviteToken {
  const trimmed = token.trim();
  if (trimmed.startsWith(OLD_PREFIX)) {
    throw new AgentError("invite_invalid", "this invite was made by an older skytale-mcp (before agents were their keys); ask the member for a new one");
  }
  if (!trimmed.startsWith(PREFIX) || trimmed.length > MAX_TOKEN_LENGTH) {
    throw new AgentError("bad_request", "not a skytale invite (it starts with 'skytale-invite-v2.'); ask the member for a new one");
  }
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(Buffer.from(trimmed.slice(PREFIX.length), "base64url").toString("utf8")) as Record<string, unknown>;
  } catch {
    throw new AgentError("bad_request", "the invite is damaged (it does not decode); copy it again");
  }
  if (typeof body.c !== "string" || typeof body.r !== "string" || typeof body.n !== "string" || typeof body.e !== "number") {
    throw new AgentError("bad_request", "the invite is damaged (fields missing); copy it again");
  }
  return {
    channel: body.c,
    groupId: unb64(body.g, 12, "channel id"),
    relayUrl: body.r,
    relayKey: unb64(body.k, 32, "relay key"),
    inviter: { name: body.n, key: unb64(body.p, 32, "inviter key") },
    creator: body.o === undefined ? undefined : unb64(body.o, 32, "creator key"),
    id: unb64(body.i, 16, "id"),
    secret: unb64(body.s, 32, "secret"),
    expiresAt: body.e,
  };
}

/** The MAC that proves a join request was made by someone holding the invite. */
export function joinMac(secret: Uint8Array, inviteId: Uint8Array, keyPackage: Uint8Array, agent: string): Uint8Array {
  return createHmac("sha256", secret).update(MAC_LABEL).update(inviteId).update(agent).update(keyPackage).digest();
}

export interface JoinRequestPayload {
  readonly inviteId: Uint8Array;
  readonly agent: string;
  readonly keyPackage: Uint8Array;
  readonly mac: Uint8Array;
}

export function encodeJoinRequest(p: JoinRequestPayload): Uint8Array {
  return Buffer.from(JSON.stringify({ i: b64(p.inviteId), a: p.agent, k: b64(p.keyPackage), m: b64(p.mac) }));
}

/** A join request from the channel stream; undefined for anything malformed (it is untrusted). */
export function decodeJoinRequest(payload: Uint8Array): JoinRequestPayload | undefined {
  try {
    const v = JSON.parse(Buffer.from(payload).toString("utf8")) as Record<string, unknown>;
    if (typeof v.a !== "string" || typeof v.k !== "string" || v.k.length > 8192) return undefined;
    return { inviteId: unb64(v.i, 16, "id"), agent: v.a, keyPackage: new Uint8Array(Buffer.from(v.k, "base64url")), mac: unb64(v.m, 32, "mac") };
  } catch {
    return undefined;
  }
}

export function macMatches(expected: Uint8Array, given: Uint8Array): boolean {
  return expected.length === given.length && timingSafeEqual(expected, given);
}

/** Why members refused a join request. */
export type JoinRefusal = "used_up" | "expired" | "revoked";
const REFUSALS: ReadonlySet<string> = new Set<JoinRefusal>(["used_up", "expired", "revoked"]);

/** A member's refusal of one join request (the request's own MAC names it), sent to the joiner. */
export interface JoinReplyPayload {
  readonly inviteId: Uint8Array;
  readonly requestMac: Uint8Array;
  readonly reason: JoinRefusal;
  readonly mac: Uint8Array;
}

/** The MAC that proves a refusal was made by someone holding the invite (the relay does not). */
export function joinReplyMac(secret: Uint8Array, inviteId: Uint8Array, requestMac: Uint8Array, reason: JoinRefusal): Uint8Array {
  return createHmac("sha256", secret).update(REPLY_MAC_LABEL).update(inviteId).update(requestMac).update(reason).digest();
}

export function encodeJoinReply(secret: Uint8Array, reply: Omit<JoinReplyPayload, "mac">): Uint8Array {
  const mac = joinReplyMac(secret, reply.inviteId, reply.requestMac, reply.reason);
  return Buffer.from(JSON.stringify({ i: b64(reply.inviteId), r: b64(reply.requestMac), c: reply.reason, m: b64(mac) }));
}

/** A join reply from the inbox; undefined for anything malformed (it is untrusted until its MAC is checked). */
export function decodeJoinReply(payload: Uint8Array): JoinReplyPayload | undefined {
  if (payload.length > MAX_REPLY_BYTES) return undefined;
  try {
    const v = JSON.parse(Buffer.from(payload).toString("utf8")) as Record<string, unknown>;
    if (typeof v.c !== "string" || !REFUSALS.has(v.c)) return undefined;
    return { inviteId: unb64(v.i, 16, "id"), requestMac: unb64(v.r, 32, "request"), reason: v.c as JoinRefusal, mac: unb64(v.m, 32, "mac") };
  } catch {
    return undefined;
  }
}
