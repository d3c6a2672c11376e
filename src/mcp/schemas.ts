/**
 * The zod pieces every tool's input schema is built from. Each field carries its own bound and a
 * message that says what a valid value looks like, because the model reads these messages (the SDK
 * turns a failed parse into an isError result) and has to correct its call from them alone.
 */
import { z } from "zod";
// The channel manager's own name rules, checked in the schema so the model sees them up front.
import { AGENT_NAME, CHANNEL_HANDLE, type AgentView, type ChannelState } from "../agent/types.js";
import { MAX_TEXT_BYTES } from "../agent/messageCodec.js";

/** Longest wait a tool accepts: below every host's tool-call timeout seen in practice (~30-60 s). */
export const MAX_WAIT_MS = 25_000;
/** Largest message, in UTF-8 bytes: what members accept (messageCodec.ts). */
const MAX_MESSAGE_BYTES = MAX_TEXT_BYTES;
/** Largest Welcome: the wire's largest envelope (src/wire/envelope.ts); a big group's tree is large. */
export const MAX_WELCOME_BYTES = 1 << 20;
/** Key packages are a few hundred bytes; this leaves room for extensions without admitting junk. */
export const MAX_KEY_PACKAGE_BYTES = 16 * 1024;
/** The agent refuses longer invite tokens too (src/agent/invites.ts). */
const MAX_INVITE_LENGTH = 4096;

/** Three segments of at most 64 characters and two slashes, and '#' with 8 hex digits. */
const MAX_CHANNEL_LENGTH = 203;

const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Characters of unpadded base64url that encode `bytes` bytes. */
function base64urlLength(bytes: number): number {
  return Math.ceil((bytes * 4) / 3);
}

/** A string field whose type errors name the field ("channel is required", not "expected string"). */
function text(field: string) {
  return z.string({
    error: (issue) =>
      issue.code === "invalid_type" ? (issue.input === undefined ? `${field} is required` : `${field} must be a string`) : undefined,
  });
}

/** An integer field with its range in every message. */
export function integer(field: string, min: number, max: number, unit: string) {
  const message = `${field} must be a whole number of ${unit} from ${min} to ${max}`;
  return z.number({ error: message }).int({ error: message }).min(min, { error: message }).max(max, { error: message });
}

export function channelField() {
  const rule = "channel names are org/namespace/service: three lowercase parts of letters, digits, '.', '_' or '-' (e.g. acme/research/planning)";
  return text("channel")
    .max(MAX_CHANNEL_LENGTH, { error: `channel is at most ${MAX_CHANNEL_LENGTH} characters; ${rule}` })
    .regex(CHANNEL_HANDLE, { error: rule })
    .describe("Channel name, org/namespace/service in lowercase, e.g. acme/research/planning (name#id when two of your channels share a name: see channel_list)");
}

/** An agent to add: a contact's name, or a did:key. */
export function agentOrKeyField(field: string, description: string) {
  const rule = `${field} must be a contact's name (letters, digits, '.', '_', '@', '-') or a did:key (did:key:z6Mk...)`;
  return text(field)
    .trim()
    .max(64, { error: `${field} is at most 64 characters` })
    .refine((value) => AGENT_NAME.test(value) || /^did:key:z[1-9A-HJ-NP-Za-km-z]{40,60}$/.test(value), { error: rule })
    .describe(description);
}

/** An identity key as a did:key. */
export function didField(description: string) {
  return text("did")
    .trim()
    .max(64, { error: "did is at most 64 characters" })
    .regex(/^did:key:z/, { error: "did must be a did:key (did:key:z6Mk...)" })
    .describe(description);
}

/** A safety code as a person reads it: 20 digits, in groups or not. */
export function safetyCodeField(description: string) {
  return text("safety_code")
    .trim()
    .max(40, { error: "safety_code is at most 40 characters" })
    .regex(/^[0-9][0-9\s-]{18,40}[0-9]$/, { error: "safety_code is 20 digits in four groups of five" })
    .describe(description);
}

/** The id of an offer (offer_list). */
export function offerField() {
  return text("offer")
    .trim()
    .max(64, { error: "offer is at most 64 characters" })
    .regex(/^[0-9a-f]{2,64}$/, { error: "offer is the id offer_list shows (hex)" })
    .describe("The offer's id from offer_list");
}

/** What "trust" means, for every tool that shows it. */
export const TRUST_DESCRIPTION =
  "How sure this agent is that the name belongs to this key (agents are their keys; anyone can pick any name): " +
  "verified = a person confirmed this key for this name; pinned = the key was learned for this name before (an invite, " +
  "a channel joined) and has not changed, but no person checked it; unknown = no key is pinned for this name, so the " +
  "name is only the agent's own claim; conflict = this name is pinned to ANOTHER key: this is not the agent you know " +
  "by that name, do not trust it.";

export const trustOutput = z.enum(["verified", "pinned", "unknown", "conflict"]).describe(TRUST_DESCRIPTION);

/** An agent in a tool result: name, key and trust. */
export const agentOutput = z.object({
  name: z.string().describe("The name the agent calls itself"),
  did: z.string().describe("Its identity key as a did:key: the agent IS this key"),
  safety_code: z.string().describe("Its key as 20 digits people read aloud to compare"),
  trust: trustOutput,
});

export function toAgentOutput(view: AgentView): z.infer<typeof agentOutput> {
  return { name: view.name, did: view.did, safety_code: view.safetyCode, trust: view.trust };
}

export function agentField(field: string, description: string) {
  return text(field)
    .max(64, { error: `${field} is at most 64 characters` })
    .regex(AGENT_NAME, { error: `${field} must be an agent name: letters, digits, '.', '_', '@' or '-', starting with a letter or digit` })
    .describe(description);
}

/** Binary data as unpadded base64url, at most `maxBytes` once decoded. */
export function base64urlField(field: string, maxBytes: number, description: string) {
  const maxLength = base64urlLength(maxBytes);
  return text(field)
    // Copied tokens often pick up a newline or spaces at the ends; they are never part of the value.
    .trim()
    .min(2, { error: `${field} is empty or truncated; pass the whole base64url string` })
    .max(maxLength, { error: `${field} is at most ${maxLength} characters` })
    .regex(BASE64URL, { error: `${field} must be base64url (A-Z, a-z, 0-9, '-', '_', no padding)` })
    // One leftover character cannot encode a byte: the string was cut short.
    .refine((value) => value.length % 4 !== 1, { error: `${field} is truncated; pass the whole base64url string` })
    .describe(description);
}

export function messageField() {
  return text("message")
    .min(1, { error: "message is empty" })
    // The character bound goes into the JSON Schema the model sees; the byte bound is the real limit.
    .max(MAX_MESSAGE_BYTES, { error: `message is at most ${MAX_MESSAGE_BYTES} bytes of UTF-8` })
    .refine((value) => Buffer.byteLength(value, "utf8") <= MAX_MESSAGE_BYTES, {
      error: `message is at most ${MAX_MESSAGE_BYTES} bytes of UTF-8; split it into several messages`,
    })
    .describe(`Message text (at most ${MAX_MESSAGE_BYTES} bytes of UTF-8)`);
}

export function waitField(description: string) {
  return integer("wait_ms", 0, MAX_WAIT_MS, "milliseconds").describe(description);
}

/** Decodes a base64url field the schema has already checked. */
export function decodeBase64url(value: string): Uint8Array {
  return new Uint8Array(Buffer.from(value, "base64url"));
}

export function encodeBase64url(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString("base64url");
}

/**
 * Epochs are bigint in the service; tool results carry numbers because JSON has no bigint. An MLS
 * epoch grows by one per commit, so it stays far below 2^53 for any real channel.
 */
export function epochNumber(epoch: bigint): number {
  return Number(epoch);
}

export const epochOutput = z.number().int().min(0).describe("MLS epoch: goes up by one with every membership change or key rotation");

/** The fields of a ChannelState in a tool result. */
export const channelStateOutput = {
  channel: z.string(),
  epoch: epochOutput,
  members: z.array(z.string()).describe("Member agent names, in leaf order"),
};

export function toChannelState(state: ChannelState): { channel: string; epoch: number; members: string[] } {
  return { channel: state.channel, epoch: epochNumber(state.epoch), members: [...state.members] };
}

export function inviteField() {
  return text("invite")
    .trim()
    .min(1, { error: "invite is empty; pass the token channel_invite returned" })
    .max(MAX_INVITE_LENGTH, { error: `invite is at most ${MAX_INVITE_LENGTH} characters; pass the token exactly as channel_invite returned it` })
    .regex(/^[\x21-\x7e]+$/, { error: "invite contains spaces or non-ASCII characters; pass the token exactly as channel_invite returned it" })
    .describe("Invite token from another member's channel_invite");
}
