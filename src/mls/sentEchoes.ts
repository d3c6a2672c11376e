import { messageDigest } from "./messages.js";

/** Sent messages remembered until their echo comes back (a few batches' worth). */
const MAX_UNECHOED = 4096;

/**
 * Digests of application messages this agent sent and the relay has not echoed yet, with their
 * epoch: the echo is recognised without decrypting its sender data. Bounded; an echo not found
 * here (after a restart, or once evicted) takes the decrypting path and ends the same.
 */
export class SentEchoes {
  private readonly unechoed = new Map<string, bigint>();

  remember(message: Uint8Array, epoch: bigint): void {
    if (this.unechoed.size >= MAX_UNECHOED) this.unechoed.delete(this.unechoed.keys().next().value as string);
    this.unechoed.set(messageDigest(message), epoch);
  }

  /** The epoch of our own message `bytes` echoed back, forgetting it; undefined if it is not ours. */
  take(bytes: Uint8Array): bigint | undefined {
    if (this.unechoed.size === 0) return undefined;
    const key = messageDigest(bytes);
    const epoch = this.unechoed.get(key);
    if (epoch !== undefined) this.unechoed.delete(key);
    return epoch;
  }
}
