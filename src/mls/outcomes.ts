import type { MlsErrorCode } from "./errors.js";
import type { MemberIdentity } from "./identity.js";

/** What one incoming message did. */
export type ReceiveOutcome =
  /**
   * One message, carrying one payload or several packed together (packedPayloads.ts); `oversized`:
   * the sizes of payloads over the bound (MAX_PAYLOAD_BYTES), dropped and kept nowhere.
   */
  | { kind: "application"; channel: string; seq: number | undefined; epoch: bigint; sender: MemberIdentity; payloads: Uint8Array[]; oversized: number[] }
  | { kind: "commit"; channel: string; seq: number | undefined; epoch: bigint; own: boolean; removed: boolean; pendingDiscarded: boolean }
  | { kind: "proposal"; channel: string; seq: number | undefined; epoch: bigint }
  | { kind: "buffered"; channel: string; seq: number | undefined; epoch: bigint }
  | { kind: "duplicate"; channel: string; seq: number }
  /** Our own message or commit, echoed back by the relay: nothing to do but note its seq. */
  | { kind: "own"; channel: string; seq: number | undefined; epoch: bigint }
  /** A buffered message that turned out unreadable once its epoch came; it is dropped. */
  | { kind: "rejected"; channel: string; seq: number | undefined; epoch: bigint; code: MlsErrorCode };
