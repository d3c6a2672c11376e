import { WireError } from "./errors.js";

/** The cleartext fields of an MLS PrivateMessage the relay needs to route and order it. */
export interface MlsRouting {
  readonly groupId: Uint8Array;
  readonly epoch: bigint;
  readonly contentType: "application" | "proposal" | "commit";
}

const MLS10 = 1;
const WIRE_FORMAT_PRIVATE = 2;
const CONTENT_TYPES = { 1: "application", 2: "proposal", 3: "commit" } as const;
const MAX_GROUP_ID_BYTES = 64;

/**
 * Reads version, wire format, group_id, epoch and content_type from the front of an MLSMessage
 * (RFC 9420 §6). Only PrivateMessages are accepted: channels never carry PublicMessages, so
 * group operations stay encrypted. Nothing past the header is looked at.
 */
export function readMlsRouting(message: Uint8Array): MlsRouting {
  const view = new DataView(message.buffer, message.byteOffset, message.byteLength);
  const need = (n: number) => {
    if (message.length < n) throw new WireError("truncated", "MLS header ends early");
  };
  need(5);
  if (view.getUint16(0) !== MLS10) throw new WireError("bad_field", "not an MLS 1.0 message");
  if (view.getUint16(2) !== WIRE_FORMAT_PRIVATE) throw new WireError("bad_field", "only MLS PrivateMessages are accepted");
  const first = view.getUint8(4);
  const prefix = first >> 6;
  if (prefix > 1) throw new WireError("bad_field", "group id length is not 1-64 bytes");
  need(4 + (prefix === 0 ? 1 : 2));
  const length = prefix === 0 ? first : view.getUint16(4) & 0x3fff;
  if (prefix === 1 && length < 64) throw new WireError("bad_field", "non-minimal length encoding");
  const start = 4 + (prefix === 0 ? 1 : 2);
  if (length === 0 || length > MAX_GROUP_ID_BYTES) throw new WireError("bad_field", "group id length is not 1-64 bytes");
  need(start + length + 9);
  const contentType = CONTENT_TYPES[view.getUint8(start + length + 8) as 1 | 2 | 3];
  if (contentType === undefined) throw new WireError("bad_field", "unknown MLS content type");
  return { groupId: message.slice(start, start + length), epoch: view.getBigUint64(start + length), contentType };
}
