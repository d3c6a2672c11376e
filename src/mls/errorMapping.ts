import { CodecError, CryptoError, CryptoVerificationError, UsageError, ValidationError } from "ts-mls/mlsError.js";
import { MlsError, type MlsErrorCode } from "./errors.js";

/**
 * Turns whatever ts-mls threw while reading a message into a typed MlsError. The original error
 * stays as `cause` for debugging; the message never includes key or plaintext material.
 */
export function toMlsError(error: unknown, fallback: MlsErrorCode = "decryption_failure"): MlsError {
  if (error instanceof MlsError) return error;
  if (error instanceof ValidationError) {
    if (error.message.includes("gen in the past")) {
      return new MlsError("replay", "message already processed (its key was used and deleted)", { cause: error });
    }
    if (error.message.includes("epoch too old") || error.message.includes("former epoch") || error.message.includes("validate epoch")) {
      return new MlsError("epoch_mismatch", "message from an epoch this agent can no longer read", { cause: error });
    }
    if (error.message.includes("credential")) {
      return new MlsError("invalid_credential", "a member credential does not match its signature key", { cause: error });
    }
    return new MlsError(fallback, `rejected by MLS validation: ${error.message}`, { cause: error });
  }
  if (error instanceof UsageError) {
    if (error.message.includes("unapplied proposals")) {
      return new MlsError("proposals_pending", "a member's proposal (such as a leave) must be committed first", { cause: error });
    }
    return new MlsError("bad_request", `not allowed by MLS: ${error.message}`, { cause: error });
  }
  if (error instanceof CodecError) return new MlsError("bad_message", "malformed MLS content", { cause: error });
  if (error instanceof CryptoVerificationError || error instanceof CryptoError) {
    return new MlsError("decryption_failure", "could not decrypt or verify the message", { cause: error });
  }
  return new MlsError(fallback, "could not process the message", { cause: error });
}
