/** Stable codes for every way an MLS operation can fail; tool results and error frames carry them. */
export type MlsErrorCode =
  | "bad_message" // bytes that do not decode as the expected MLS structure
  | "decryption_failure" // AEAD, signature or membership check failed
  | "replay" // a generation that was already consumed
  | "epoch_mismatch" // a handshake for an epoch other than the current one, or too old to read
  | "invalid_welcome" // a Welcome we cannot use (not for us, bad tree, bad credentials)
  | "invalid_credential" // a credential that does not bind the member's name to its key
  | "identity_changed" // a member's leaf changed identity in an update
  | "expired_key_package" // a key package outside its lifetime
  | "unknown_key_package" // a Welcome for a key package we do not hold (or already used)
  | "not_found" // no such channel on this agent
  | "already_exists" // a channel of that name exists already
  | "not_member" // this agent was removed from the channel
  | "sender_removed" // a late message from an epoch its sender has since been removed in
  | "proposals_pending" // received proposals must be committed before this agent can send
  | "commit_pending" // a commit of ours awaits the relay's verdict
  | "no_pending_commit" // confirm or discard without a pending commit
  | "buffer_full" // too many messages for future epochs
  | "bad_request"; // invalid arguments

/** A failure of the MLS layer, with a stable code and a message safe to show (no secrets). */
export class MlsError extends Error {
  override readonly name = "MlsError";
  constructor(
    readonly code: MlsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
