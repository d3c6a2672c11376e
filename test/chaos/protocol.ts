// What the chaos test and its agent drivers say to each other over IPC, and what drivers log.

export type DriverRequest =
  | { op: "create"; channel: string }
  | { op: "add"; channel: string; agent: string }
  | { op: "remove"; channel: string; member: string }
  | { op: "rotate"; channel: string }
  | { op: "send"; channel: string; text: string }
  | { op: "receive"; channel: string; waitMs: number; max: number }
  | { op: "members"; channel: string }
  /** Starts `inner`, lets the event loop turn `hops` times, then SIGKILLs itself. */
  | { op: "dieDuring"; inner: Exclude<DriverRequest, { op: "dieDuring" } | { op: "final" }>; hops: number }
  /** Closes the agent, reports the channel's epoch and epoch authenticator from the store, exits. */
  | { op: "final"; channel: string };

export type DriverReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; code: string; message: string };

/** One incoming MLS message as a receiver's sender data showed it. */
export interface SeenRecord {
  readonly channel: string;
  readonly epoch: number;
  /** Application messages and handshakes (proposals, commits) use separate ratchets. */
  readonly ratchet: "application" | "handshake";
  readonly leaf: number;
  readonly generation: number;
  /** Members of the message's epoch. */
  readonly members: string[];
  /** SHA-256 of the PrivateMessage ciphertext. */
  readonly digest: string;
}

export interface ReceivedRecord {
  readonly text: string;
  readonly sender: string;
  readonly seq: number | undefined;
}

export type FinalState = { readonly member: false; readonly delivered: number[] } | FinalMember;

export interface FinalMember {
  readonly member: true;
  /** Channel seqs of the inbox rows receive() handed out. */
  readonly delivered: number[];
  readonly groupId: string;
  readonly epoch: number;
  readonly authenticator: string;
  readonly members: string[];
}
