import { encodeEnvelope, type Envelope } from "../wire/envelope.js";
import type { StoredKind } from "./channelLog.js";

/** The envelope a subscriber receives for an archived frame of `channel` (id = its seq), sent by principal `from`. */
export function deliveryEnvelope(channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string, seq: bigint): Envelope {
  switch (kind) {
    case "Msg":
    case "GroupProposal":
      return { type: kind, id: seq, body };
    case "GroupCommit":
      return { type: "GroupCommit", id: seq, commit: body, welcome: undefined };
    default:
      // Frames archived before senders were keys name an agent instead: they go out without a sender.
      return { type: kind, id: seq, target: { kind: "channel", channel }, from: /^[0-9a-f]{64}$/.test(from) ? new Uint8Array(Buffer.from(from, "hex")) : new Uint8Array(0), payload: body };
  }
}

/** deliveryEnvelope, encoded. */
export function encodeDelivery(channel: Uint8Array, kind: StoredKind, body: Uint8Array, from: string, seq: bigint): Uint8Array {
  return encodeEnvelope(deliveryEnvelope(channel, kind, body, from, seq));
}
