/**
 * What travels inside MLS application messages: a kind byte, then the content. Users' text is
 * shown to the model; control messages (invites) are handled by the channel manager and never
 * reach the inbox.
 */
const USER_TEXT = 0;
const CONTROL = 1;
const utf8 = new TextEncoder();
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

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

export function encodeText(text: string): Uint8Array {
  return withKind(USER_TEXT, utf8.encode(text));
}

export function encodeControl(notice: InviteNotice): Uint8Array {
  return withKind(CONTROL, utf8.encode(JSON.stringify(notice)));
}

export function isUserText(plaintext: Uint8Array): boolean {
  return plaintext[0] === USER_TEXT;
}

/** The text of a user message; undefined when it is not valid UTF-8 text. */
export function decodeText(plaintext: Uint8Array): string | undefined {
  if (plaintext[0] !== USER_TEXT) return undefined;
  try {
    return strictUtf8.decode(plaintext.subarray(1));
  } catch {
    return undefined;
  }
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
