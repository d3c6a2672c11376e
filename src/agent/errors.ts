import { MlsError } from "../mls/errors.js";
import { StoreError } from "../store/errors.js";
import { TransportError } from "../transport/errors.js";
import { AgentError } from "./types.js";

const STORE_CODES: Record<string, string> = {
  locked: "bad_request",
  full: "storage_full",
  read_only: "storage_read_only",
  corrupt: "storage_corrupt",
  wrong_key: "storage_wrong_key",
};

const TRANSPORT_CODES: Record<string, string> = {
  auth_failed: "auth_failed",
  relay_key_mismatch: "relay_key_mismatch",
  rejected: "bad_request",
};

/**
 * Errors from the layers below, with their stable codes kept (MLS codes such as not_found or
 * decryption_failure pass through as they are); anything uncoded becomes `internal`.
 */
export function toAgentError(error: unknown): AgentError {
  if (error instanceof AgentError) return error;
  if (error instanceof MlsError) return new AgentError(error.code, error.message, { cause: error });
  if (error instanceof StoreError) return new AgentError(STORE_CODES[error.code] ?? "storage_error", error.message, { cause: error });
  if (error instanceof TransportError) {
    // A quota is final for now: retrying before it resets is refused again, so the caller hears it.
    if (error.code === "rejected" && error.relayCode === "quota_exceeded") return new AgentError("quota_exceeded", `the relay refused this: ${error.message}`, { cause: error });
    const code = TRANSPORT_CODES[error.code] ?? "relay_unreachable";
    return new AgentError(code, error.message, { cause: error });
  }
  return new AgentError("internal", "internal error", { cause: error });
}

/** Runs `fn`, turning whatever it throws into an AgentError with a stable code. */
export async function guarded<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    throw toAgentError(error);
  }
}
