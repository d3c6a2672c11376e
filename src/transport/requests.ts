import { RELAY_THROUGH_TYPES, type Envelope, type EnvelopeType } from "../wire/envelope.js";

type WithoutId<E> = E extends unknown ? Omit<E, "id"> : never;
/** An envelope before the transport gives it a request id. */
export type RelayRequest = WithoutId<Envelope>;

const ACK: readonly EnvelopeType[] = ["Ack"];
const GROUP: readonly EnvelopeType[] = ["GroupAck", "GroupNack"];

/** The reply types that answer a request of `type` (an Error may answer any of them). */
export function expectedReplies(type: EnvelopeType): readonly EnvelopeType[] {
  switch (type) {
    case "Auth":
      return ["AuthOk"];
    case "Ping":
      return ["Pong"];
    case "GroupProposal":
    case "GroupCommit":
      return GROUP;
    case "KeyPackageFetch":
      return ["KeyPackageReply"];
    case "NameLookup":
      return ["NameReply"];
    default:
      return ACK;
  }
}

/** Reply types: frames the relay sends with a request's id rather than a sequence number. */
export const REPLY_TYPES: ReadonlySet<EnvelopeType> = new Set(["AuthOk", "Error", "Ack", "GroupAck", "GroupNack", "KeyPackageReply", "NameReply", "Pong"]);

/** Requests that change relay state; they go through the outbox so none is lost. */
export const DURABLE_TYPES: ReadonlySet<EnvelopeType> = new Set<EnvelopeType>([
  "Msg",
  "GroupProposal",
  "GroupCommit",
  "KeyPackagePublish",
  "InboxAck",
  "ChannelOpen",
  ...RELAY_THROUGH_TYPES,
]);

/** Relay error codes after which the same request can succeed later, so it is retried, not dropped. */
export const TRANSIENT_RELAY_CODES: ReadonlySet<string> = new Set(["rate_limited", "internal"]);

/** The reply type that answers a request type, mirroring expectedReplies at the type level. */
export type ReplyOf<T extends RelayRequest["type"]> = T extends "Auth"
  ? "AuthOk"
  : T extends "Ping"
    ? "Pong"
    : T extends "GroupProposal" | "GroupCommit"
      ? "GroupAck" | "GroupNack"
      : T extends "KeyPackageFetch"
        ? "KeyPackageReply"
        : T extends "NameLookup"
          ? "NameReply"
          : "Ack";
