/**
 * The channel manager's contract: what an MCP tool (or a library user) can ask of one agent.
 * Implemented by Agent (agent.ts); the MCP layer depends only on this file.
 */
export { CHANNEL_HANDLE, CHANNEL_NAME } from "../mls/channelName.js";
export { NAME_PATTERN as AGENT_NAME } from "../mls/identity.js";

export type AgentErrorCode =
  | "not_found" // no such channel on this agent, or no key package for that agent id
  | "bad_request" // invalid arguments (bad channel name, malformed invite or welcome, ...)
  | "already_exists" // the channel exists, or the agent is already a member
  | "not_member" // this agent is not (or no longer) a member of the channel
  | "auth_failed" // the relay refused our token
  | "relay_unreachable" // the relay cannot be reached (the request stays queued where that is safe)
  | "relay_key_mismatch" // the relay does not hold the key pinned for it
  | "quota_exceeded" // the relay's quota for this identity (channels, bytes, Welcome recipients, key packages taken...) is used up until it resets; the message says which and when
  | "join_timeout" // a join did not finish in time (it may still finish later)
  | "invite_invalid" // an invite that is malformed for this agent: made by an older release, or for another relay
  | "invite_expired" // the invite has expired (by this agent's clock, or a member refused the join as expired)
  | "invite_used_up" // a member refused the join: the invite admitted as many agents as it allows
  | "invite_revoked" // a member refused the join: a member was removed since, which revokes the channel's open invites
  | "identity_mismatch" // a key that is not the one pinned for that name (or a key package of another key): someone else answered
  | "unknown_contact" // a name with no key pinned for it: add it as a contact first (contact_add with its did:key or safety code)
  | "epoch_mismatch" // the channel moved on while this operation was built; retried without success
  | "decryption_failure" // a message that does not decrypt or verify
  | "fork_detected" // the relay's history of the channel is not this agent's (its commit was refused, or the winning commit cannot be processed)
  | "storage_full" // the disk holding the data dir is full; nothing was changed, retry after freeing space
  | "storage_read_only" // the data dir cannot be written; nothing was changed
  | "storage_corrupt" // the database in the data dir is damaged
  | "storage_wrong_key" // SKYTALE_PASSPHRASE (or the key file) does not open the data dir
  | "storage_error" // any other failure to read or write the data dir
  | "internal"; // a bug: report it

/** A failure with a stable code and a sentence that tells the caller what to do next. */
export class AgentError extends Error {
  override readonly name = "AgentError";
  constructor(
    readonly code: AgentErrorCode | string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export interface ChannelState {
  /** The channel's handle on this agent: its name, or name#id when two channels share a name. */
  readonly channel: string;
  readonly epoch: bigint;
  /** Member names, in leaf order. */
  readonly members: string[];
}

/**
 * How far this agent trusts that a name is the agent it knows by it. Agents are their keys;
 * names are what agents call themselves, and anyone can pick any name.
 * - verified: a person confirmed this key for this name (contact_add with its did:key or safety code);
 * - pinned: the key was learned for this name before (an invite, a channel joined) and has not changed;
 * - unknown: no key is pinned for this name: the name is only the agent's own claim;
 * - conflict: this name is pinned to another key: this is NOT the agent known by that name.
 */
export type Trust = "verified" | "pinned" | "unknown" | "conflict";

/** An agent as tools show it: its name, its key (did:key and safety code) and how far it is trusted. */
export interface AgentView {
  readonly name: string;
  readonly did: string;
  readonly safetyCode: string;
  readonly trust: Trust;
}

export interface MemberView {
  readonly identity: string;
  readonly did: string;
  readonly safetyCode: string;
  readonly trust: Trust;
}

export interface ChannelSummary extends ChannelState {
  /** The name the creator gave the channel. */
  readonly name: string;
  /** Who made it; undefined for channels made before channels named their creator. */
  readonly creator: AgentView | undefined;
  /** Messages received and not yet returned by receive(). */
  readonly unread: number;
}

/** A name pinned to a key in this agent's contacts. */
export interface ContactView {
  readonly name: string;
  readonly did: string;
  readonly safetyCode: string;
  readonly verified: boolean;
  /** Where the key came from: "explicit", "invite", "channel", "key_package". */
  readonly source: string;
}

/** A channel another agent added this agent to, waiting for an answer (offer_answer). */
export interface OfferView {
  /** The id to answer it with. */
  readonly offer: string;
  readonly channel: string;
  readonly creator: AgentView | undefined;
  /** The member who added this agent. */
  readonly addedBy: AgentView;
  readonly members: string[];
  readonly receivedAt: string;
}

/** A message from another member, as receive() returns it (once). */
export interface ReceivedMessage {
  readonly channel: string;
  readonly sender: string;
  /** The sender's key (legacy messages stored before keys were shown carry a hex fingerprint). */
  readonly senderDid: string;
  readonly trust: Trust;
  readonly message: string;
  readonly seq: number | undefined;
  /**
   * When the sender sent it (ISO 8601), by the sender's clock: signed and encrypted with the text,
   * so the relay cannot change it, but only as right as that clock. Undefined for a message from a
   * release that does not send it (or stored before this agent read it).
   */
  readonly sentAt: string | undefined;
  /** When this agent received it (ISO 8601), by its own clock. */
  readonly receivedAt: string;
}

/**
 * What send() did. `sent`: the relay stored it, at `seq` in the channel (messages sent together can
 * share one). `queued`: the relay did not answer in time or cannot be reached; the message is
 * stored in the outbox and goes out when the relay is reachable (`reason` says why it waits), so it
 * must not be sent again. Should it be refused later and not be sent again on its own, receive()
 * reports message_not_delivered on the channel.
 */
export type SendResult =
  | { readonly status: "sent"; readonly channel: string; readonly seq: number; readonly epoch: bigint }
  | { readonly status: "queued"; readonly channel: string; readonly epoch: bigint; readonly reason: string };

/**
 * What a join came to. `pending`: no member answered within the wait (`note` says why: none
 * online, or the relay not reachable); the request stays at the relay, and asking again with the
 * same invite waits on it without sending another. A member's refusal is an error instead
 * (invite_used_up, invite_expired, invite_revoked).
 */
export type JoinResult =
  | ({ readonly status: "joined" } & ChannelState)
  | { readonly status: "pending"; readonly channel: string; readonly note: string };

/** A join this agent asked for with an invite that has not completed: waiting for a member, or refused. */
export interface PendingJoinView {
  /** The channel's name, as the invite gives it. */
  readonly channel: string;
  readonly status: "pending" | "refused";
  /** When the request was sent (ISO 8601). */
  readonly requestedAt: string;
  /** Why it was refused (refused only): a stable code and what to do. */
  readonly error?: { readonly code: string; readonly message: string };
}

/**
 * Something the relay (or another agent) did that this agent detected, reported once by
 * receive(). None of them ever leads to altered or forged text being returned.
 * - frame_rejected: a frame that did not verify even when fetched again was skipped;
 * - frames_missing: the relay did not deliver some frames even when asked again;
 * - fork_suspected: frames at this agent's epoch that it cannot read: the relay may be showing
 *   members different commits, or carrying a non-member's frames; a member re-adding this agent
 *   (remove, then add) repairs it;
 * - half_joined: a Welcome whose commit did not win was undone (the channel is left until the right one comes);
 * - message_not_delivered: a message send() answered `queued` was refused by the relay later and
 *   could not be encrypted again (its text is kept in memory only, so not across a restart);
 * - identity_conflict: an agent showed up under a name this agent has pinned to another key.
 */
export type ChannelWarningCode =
  | "frame_rejected"
  | "frames_missing"
  | "fork_suspected"
  | "half_joined"
  | "message_not_delivered"
  | "identity_conflict"
  | "channel_not_delivered"
  /** A member sent a message over the bound (mls/receiving.ts, MAX_PAYLOAD_BYTES): dropped, never shown. */
  | "message_too_large";

export interface ChannelWarning {
  readonly channel: string;
  readonly code: ChannelWarningCode;
  /** What happened and what to do, without message text or keys. */
  readonly message: string;
  readonly seq: number | undefined;
}

export interface ReceiveOptions {
  readonly channel?: string;
  /** How long to wait for a first message when none is waiting (0 = do not wait). */
  readonly waitMs?: number;
  readonly maxMessages?: number;
  /** At most about this many bytes of messages per call (default MAX_RECEIVE_BYTES, at least one message); the rest stay for the next. */
  readonly maxBytes?: number;
  readonly signal?: AbortSignal;
  /** Called about once a second while waiting (for progress notifications). */
  readonly onWait?: (waitedMs: number) => void;
}

/** The relay link as a user needs to see it: where, whether it is up, and if not, why. */
export interface RelayStatus {
  readonly url: string;
  readonly connected: boolean;
  /**
   * Why it is not connected, once an attempt failed. `lasting`: retrying cannot help until the
   * user changes something (another program holds the local relay's port, a refused token, a
   * changed relay key), so requests that need the relay are refused at once instead of waiting.
   */
  readonly problem?: { readonly code: AgentErrorCode | string; readonly message: string; readonly lasting: boolean };
}

export interface ChannelService {
  readonly identity: { readonly name: string; readonly did: string; readonly safetyCode: string };
  relayStatus(): RelayStatus;
  createChannel(channel: string): Promise<ChannelState>;
  invite(channel: string, options: { maxUses: number; ttlSeconds: number }): Promise<{ invite: string; expiresAt: Date }>;
  /**
   * Joins with an invite token; "pending" when no member answered within `waitMs`; a member's
   * refusal is an error (invite_used_up, invite_expired, invite_revoked).
   */
  joinWithInvite(invite: string, waitMs?: number): Promise<JoinResult>;
  /** Joins asked for with an invite since this agent started that have not completed. */
  pendingJoins(): Promise<PendingJoinView[]>;
  /** Joins with a Welcome from the manual key-package flow; `channel` must be the one it opens. */
  joinWithWelcome(channel: string, welcome: Uint8Array): Promise<JoinResult>;
  /** A fresh single-use key package (encoded MLSMessage) for the manual flow. */
  keyPackage(): Promise<Uint8Array>;
  /**
   * Adds an agent by its key package, or through the relay's key-package directory by its did:key
   * or by the name of a contact (the key package must be of the pinned key: identity_mismatch).
   */
  addMember(channel: string, who: { keyPackage: Uint8Array } | { agent: string }): Promise<ChannelState & { welcome: Uint8Array }>;
  /** Sends a text: `sent`, or `queued` while the relay cannot be reached (a success: do not send it again). */
  send(channel: string, message: string): Promise<SendResult>;
  /** Messages not returned before; `warnings` (only when there are some) says what the relay did wrong. */
  receive(options: ReceiveOptions): Promise<{ messages: ReceivedMessage[]; timedOut: boolean; warnings?: ChannelWarning[] }>;
  channels(): Promise<ChannelSummary[]>;
  members(channel: string): Promise<{ channel: string; epoch: bigint; members: MemberView[] }>;
  /** Leaves a channel: "left" once a member committed our removal, else "leave_requested". */
  leave(channel: string): Promise<{ channel: string; status: "left" | "leave_requested" }>;
  removeMember(channel: string, member: string): Promise<ChannelState>;
  rotateKeys(channel: string): Promise<ChannelState>;
  /** This agent's contacts: names pinned to keys. */
  contacts(): Promise<ContactView[]>;
  /**
   * Pins `name` to a key a person vouches for: its did:key, or its safety code (the relay is asked
   * for the key it knows under the name, and its code must match).
   */
  addContact(name: string, proof: { did: string } | { safetyCode: string }): Promise<ContactView>;
  removeContact(name: string): Promise<{ name: string; removed: boolean }>;
  /** Channels agents that are not contacts added this agent to, waiting for an answer. */
  offers(): Promise<OfferView[]>;
  /** Joins the offered channel, or declines it (its Welcome is dropped). */
  answerOffer(offer: string, accept: boolean): Promise<JoinResult | { readonly status: "declined"; readonly channel: string }>;
  /** Called with the channel name whenever a new message lands in the inbox. */
  onMessage(listener: (channel: string) => void): () => void;
  close(): Promise<void>;
}
