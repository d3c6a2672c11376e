/** Stable codes for what can go wrong on the client side of the relay link. */
export type TransportErrorCode =
  | "auth_failed" // the relay refused our agent id or token; the client stops
  | "relay_key_mismatch" // the relay could not prove it holds the pinned key; the client stops
  | "bad_config" // an option or environment variable is malformed
  | "incompatible" // the relay speaks an older protocol; the client stops
  | "unreachable" // a connection attempt failed (DNS, refused, TLS, HTTP error, key fetch)
  | "disconnected" // an established link went away
  | "timeout" // no answer in time; a durable request stays in the outbox
  | "protocol_error" // the relay broke the protocol (bad frame, unexpected reply)
  | "rejected" // the relay answered a request with a final Error (see relayCode)
  | "busy" // a bound on pending requests or subscriptions was reached
  | "invalid" // the caller handed over something that cannot be encoded
  | "listener_failed" // an event listener threw
  | "closed"; // close() was called

/** Errors that end the client: retrying cannot help until the configuration changes. */
export const FATAL_CODES: ReadonlySet<TransportErrorCode> = new Set(["auth_failed", "relay_key_mismatch", "bad_config", "incompatible"]);

/** Refusals of a request the client never took in: nothing of it waits to be sent. */
export const NOT_TAKEN_CODES: ReadonlySet<TransportErrorCode> = new Set(["busy", "closed", "invalid"]);

/** A transport failure; messages never carry keys, tokens or payload bytes. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  /** The relay's own error code, for `rejected` and `auth_failed`. */
  readonly relayCode: string | undefined;

  constructor(
    readonly code: TransportErrorCode,
    message: string,
    options?: { cause?: unknown; relayCode?: string },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.relayCode = options?.relayCode;
  }
}
