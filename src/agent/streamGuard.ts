import { createHash } from "node:crypto";

/** How often one missing stretch of a channel is fetched again before the gap is accepted. */
export const MAX_GAP_REFETCHES = 2;
/** Refused frames remembered per channel (to explain a commit that won but cannot be read). */
const MAX_REFUSED = 256;

export type Admission =
  | { readonly kind: "process" }
  /** At or below the cursor: handled already (a replay or an in-flight copy). */
  | { readonly kind: "duplicate" }
  /** Past a gap that is being fetched again: wait for the replay. */
  | { readonly kind: "hold" }
  /** Past a gap the relay did not fill when asked: process, and say what is missing. */
  | { readonly kind: "gap"; readonly from: number; readonly to: number };

export type FailureVerdict =
  | { readonly kind: "refetch" }
  /**
   * Refused for good. `refetched`: it was fetched again first (a refusal the relay's bytes may
   * explain); `confirmed`: and the relay served the very same bytes again.
   */
  | { readonly kind: "refused"; readonly refetched: boolean; readonly confirmed: boolean };

interface Watch {
  /** A re-fetch asked from this seq and not yet acknowledged by the relay. */
  pendingFrom: number | undefined;
  readonly gapRefetches: Map<number, number>;
  /** Hash of the bytes that failed at a seq, fetched again once. */
  readonly failed: Map<number, string>;
  readonly refused: Set<number>;
}

/**
 * Checks a channel's relay stream against what an honest relay delivers: every seq once, dense
 * and in order. A gap (dropped or reordered frames) or a frame that does not verify (flipped,
 * truncated, replayed) is fetched again from the relay before anything after it is applied;
 * only what stays wrong after that is skipped, and reported.
 */
export class StreamGuard {
  private readonly watches = new Map<string, Watch>();

  constructor(private readonly refetch: (channel: string, fromSeq: number) => void) {}

  /** What to do with a frame at `seq` when the next one expected is `next`. */
  admit(channel: string, seq: number, next: number): Admission {
    if (seq < next) return { kind: "duplicate" };
    const w = this.watch(channel);
    if (seq === next) return { kind: "process" };
    if (w.pendingFrom !== undefined) return { kind: "hold" };
    const asked = w.gapRefetches.get(next) ?? 0;
    if (asked < MAX_GAP_REFETCHES) {
      w.gapRefetches.set(next, asked + 1);
      this.ask(channel, w, next);
      return { kind: "hold" };
    }
    w.gapRefetches.delete(next);
    return { kind: "gap", from: next, to: seq - 1 };
  }

  /**
   * The channel is being fetched again from `fromSeq` (its frames were dropped unapplied): frames
   * past a gap wait for the replay, without counting as a gap the relay failed to fill.
   */
  replaying(channel: string, fromSeq: number): void {
    this.watch(channel).pendingFrom = fromSeq;
  }

  /** The relay acknowledged a subscription of the channel: its replay follows. */
  subscribed(channel: string): void {
    const w = this.watches.get(channel);
    if (w !== undefined) w.pendingFrom = undefined;
  }

  /**
   * A frame at `seq` was refused by the MLS layer. `history`: it is from before this agent joined
   * (a replay of the channel's past, unreadable by design), so fetching it again cannot help.
   */
  failed(channel: string, seq: number, bytes: Uint8Array, history: boolean): FailureVerdict {
    const w = this.watch(channel);
    const hash = createHash("sha256").update(bytes).digest("hex");
    const before = w.failed.get(seq);
    if (!history && before === undefined) {
      w.failed.set(seq, hash);
      this.ask(channel, w, seq);
      return { kind: "refetch" };
    }
    w.failed.delete(seq);
    w.refused.add(seq);
    if (w.refused.size > MAX_REFUSED) w.refused.delete(w.refused.values().next().value as number);
    return { kind: "refused", refetched: before !== undefined, confirmed: before === hash };
  }

  /** Whether the frame at `seq` was refused (skipped) by this agent. */
  refused(channel: string, seq: number): boolean {
    return this.watches.get(channel)?.refused.has(seq) ?? false;
  }

  /** The frame at `seq` was applied or skipped: forget retry counts up to it. */
  passed(channel: string, seq: number): void {
    const w = this.watches.get(channel);
    if (w === undefined) return;
    for (const key of w.gapRefetches.keys()) if (key <= seq) w.gapRefetches.delete(key);
    for (const key of w.failed.keys()) if (key <= seq) w.failed.delete(key);
  }

  forget(channel: string): void {
    this.watches.delete(channel);
  }

  private ask(channel: string, w: Watch, fromSeq: number): void {
    w.pendingFrom = fromSeq;
    this.refetch(channel, fromSeq);
  }

  private watch(channel: string): Watch {
    let w = this.watches.get(channel);
    if (w === undefined) {
      w = { pendingFrom: undefined, gapRefetches: new Map(), failed: new Map(), refused: new Set() };
      this.watches.set(channel, w);
    }
    return w;
  }
}
