/**
 * What travels inside MLS application messages: a kind byte, then the content. Users' text is
 * shown to the model; control messages (invites) are handled by the channel manager and never
 * reach the inbox.
 *
 * - 0: text (UTF-8), as releases before sent times send it;
 * - 1: control message (JSON);
 * - 2: timed text: the sender's clock when it sent it (u64, ms since the Unix epoch, big-endian),
 *   then the text. Inside the MLS plaintext, so it is encrypted and signed with the text. Sent only
 *   in groups whose every leaf advertises SENT_TIME_CAPABILITY: a release from before keeps kind 0
 *   only and would drop it without a trace.
 *
 * Kinds stay below 0xFF, the first byte of a packed message (mls/packedPayloads.ts).
 */
import { MAX_PAYLOAD_BYTES } from "../mls/receiving.js";

const USER_TEXT = 0;
const CONTROL = 1;
const TIMED_TEXT = 2;
const TIME_BYTES = 8;
/** The largest time a Date holds (ms); a sender's time beyond it is shown as absent. */
const MAX_DATE_MS = 8.64e15;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

/** The longest text a message carries, in UTF-8 bytes (the MCP tools' bound too): encoded, it is within MAX_PAYLOAD_BYTES, over which members drop it. */
export const MAX_TEXT_BYTES = 64 * 1024;
if (1 + TIME_BYTES + MAX_TEXT_BYTES > MAX_PAYLOAD_BYTES) throw new Error("MAX_TEXT_BYTES does not fit the payload bound");

/** An invite's details, sent to every member so that any of them can admit its holder. */
export interface InviteNotice {
  readonly t: "invite";
  readonly id: string;
  readonly secret: string;
  readonly expiresAt: number;
  readonly maxUses: number;
  /** Admissions counted so far, so that members who join later count on from there. */
  readonly uses: number;
}

/** A user's text; with `sentAt` (ms, the sender's clock) as a timed text. */
export function encodeText(text: string, sentAt?: number): Uint8Array {
  if (sentAt === undefined) return withKind(USER_TEXT, utf8.encode(text));
  const body = utf8.encode(text);
  const out = new Uint8Array(1 + TIME_BYTES + body.length);
  out[0] = TIMED_TEXT;
  new DataView(out.buffer).setBigUint64(1, BigInt(Math.max(0, Math.floor(sentAt))));
  out.set(body, 1 + TIME_BYTES);
  return out;
}

export function encodeControl(notice: InviteNotice): Uint8Array {
  return withKind(CONTROL, utf8.encode(JSON.stringify(notice)));
}

/** Whether a plaintext is a user's text (kept for the inbox); a timed text too short to hold its time is not. */
export function isUserText(plaintext: Uint8Array): boolean {
  return plaintext[0] === USER_TEXT || (plaintext[0] === TIMED_TEXT && plaintext.length >= 1 + TIME_BYTES);
}

/** A user's message as read: its text, and the sender's time when it carries one a Date can hold. */
export interface DecodedText {
  readonly text: string;
  /** ms since the Unix epoch, by the sender's clock; undefined for a text without it. */
  readonly sentAt: number | undefined;
}

/** A user message; undefined when it is no user text or not valid UTF-8. */
export function decodeText(plaintext: Uint8Array): DecodedText | undefined {
  if (!isUserText(plaintext)) return undefined;
  const timed = plaintext[0] === TIMED_TEXT;
  let text: string;
  try {
    text = strictUtf8.decode(plaintext.subarray(timed ? 1 + TIME_BYTES : 1));
  } catch {
    return undefined;
  }
  if (!timed) return { text, sentAt: undefined };
  const sentAt = Number(new DataView(plaintext.buffer, plaintext.byteOffset, plaintext.byteLength).getBigUint64(1));
  return { text, sentAt: sentAt <= MAX_DATE_MS ? sentAt : undefined };
}

/** A control message, or undefined for anything else (malformed ones included). */
export function decodeControl(plaintext: Uint8Array): InviteNotice | undefined {
  if (plaintext[0] !== CONTROL) return undefined;
  try {
    const value = JSON.parse(strictUtf8.decode(plaintext.subarray(1))) as Partial<InviteNotice>;
    const ok = value.t === "invite" && typeof value.id === "string" && typeof value.secret === "string" &&
      typeof value.expiresAt === "number" && typeof value.maxUses === "number" && typeof value.uses === "number";
    return ok ? (value as InviteNotice) : undefined;
  } catch {
    return undefined;
  }
}

function withKind(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(1 + body.length);
  out[0] = kind;
  out.set(body, 1);
  return out;
}
