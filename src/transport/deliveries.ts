import { isRelayThrough, type Envelope, type EnvelopeOf, type RelayThroughType } from "../wire/envelope.js";
import { readMlsRouting } from "../wire/mlsHeader.js";

/** What a channel subscription delivers. */
export type ChannelEnvelope = EnvelopeOf<"Msg" | "GroupProposal" | "GroupCommit" | RelayThroughType>;
/** What the agent's inbox delivers. */
export type InboxEnvelope = EnvelopeOf<"GroupWelcome" | RelayThroughType>;

/** A frame from a channel's archive or live stream; `seq` is its place in the channel. */
export interface ChannelDelivery {
  readonly kind: "channel";
  readonly channel: Uint8Array;
  readonly seq: bigint;
  readonly envelope: ChannelEnvelope;
}

/** A frame from the agent's inbox; `seq` is its place in the inbox. */
export interface InboxDelivery {
  readonly kind: "inbox";
  readonly seq: bigint;
  readonly envelope: InboxEnvelope;
}

/**
 * Where a frame the relay delivered belongs, or undefined when the type is not one the relay
 * delivers. The channel of MLS frames is the group id in their cleartext header; a frame whose
 * header cannot be read throws WireError.
 */
export function routeDelivery(e: Envelope): ChannelDelivery | InboxDelivery | undefined {
  const seq = e.id;
  switch (e.type) {
    case "Msg":
    case "GroupProposal":
      return { kind: "channel", channel: readMlsRouting(e.body).groupId, seq, envelope: e };
    case "GroupCommit":
      return { kind: "channel", channel: readMlsRouting(e.commit).groupId, seq, envelope: e };
    case "GroupWelcome":
      return { kind: "inbox", seq, envelope: e };
    default:
      if (!isRelayThrough(e)) return undefined;
      return e.target.kind === "channel" ? { kind: "channel", channel: e.target.channel, seq, envelope: e } : { kind: "inbox", seq, envelope: e };
  }
}
