import type { PrivateMessage } from "ts-mls/privateMessage.js";
import { MlsError } from "./errors.js";
import type { GroupCache } from "./groupCache.js";
import type { GroupEntry } from "./groupEntry.js";
import { decodeMessage } from "./messages.js";
import type { ReceiveOutcome } from "./outcomes.js";
import type { MlsStatePort } from "../store/records.js";

/** Messages for future epochs kept per channel; a relay that sends more is misbehaving. */
export const MAX_BUFFERED_PER_CHANNEL = 256;
/** How far ahead a buffered message's epoch may be; anything further is not a reordering. */
export const MAX_EPOCHS_AHEAD = 64n;

/** Processes a message of the current or a past epoch; `bufferId` names its buffer row. */
export type ProcessMessage = (entry: GroupEntry, pm: PrivateMessage, seq: number | undefined, bufferId: number) => Promise<ReceiveOutcome>;

/**
 * Messages for an epoch this agent has not reached yet (they fail to decrypt until then), kept in
 * the store by their cleartext epoch and processed, in arrival order, once a commit reaches it.
 */
export class FutureEpochs {
  constructor(
    private readonly port: MlsStatePort,
    private readonly groups: GroupCache,
  ) {}

  /** Whether the frame at `seq` waits in the channel's buffer (rows are read only when there are any). */
  holds(channel: string, seq: number): boolean {
    return this.port.countBuffered(channel) > 0 && this.port.loadBuffered(channel).some((b) => b.seq === seq);
  }

  buffer(entry: GroupEntry, pm: PrivateMessage, bytes: Uint8Array, seq: number | undefined): ReceiveOutcome {
    if (pm.epoch > entry.state.groupContext.epoch + MAX_EPOCHS_AHEAD) {
      throw new MlsError("epoch_mismatch", `message for epoch ${pm.epoch}, too far ahead of ${entry.state.groupContext.epoch}`);
    }
    if (this.port.countBuffered(entry.channel) >= MAX_BUFFERED_PER_CHANNEL) {
      throw new MlsError("buffer_full", `too many messages for future epochs on '${entry.channel}'`);
    }
    // The cursor stays: what leads to this epoch may still come with a lower seq.
    this.groups.apply({ channel: entry.channel, bufferAdd: [{ channel: entry.channel, epoch: pm.epoch, seq, message: bytes }] });
    return { kind: "buffered", channel: entry.channel, seq, epoch: pm.epoch };
  }

  /** Processes buffered messages that the new epoch made readable, in arrival order. */
  async drain(entry: GroupEntry, process: ProcessMessage): Promise<ReceiveOutcome[]> {
    const outcomes: ReceiveOutcome[] = [];
    while (this.port.countBuffered(entry.channel) > 0) {
      const epoch = entry.state.groupContext.epoch;
      const ready = this.port.loadBuffered(entry.channel).find((b) => b.epoch <= epoch);
      if (ready === undefined) return outcomes;
      const { seq } = ready;
      try {
        const message = decodeMessage(ready.message);
        if (message.wireformat !== "mls_private_message") throw new MlsError("bad_message", "corrupt buffered message");
        const outcome = await process(entry, message.privateMessage, seq, ready.id);
        // The row's removal may sit in a receiveAll batch: store it before the rows are read again.
        this.groups.flushDeferred(entry);
        outcomes.push(outcome);
        if (outcome.kind === "commit" && outcome.removed) return outcomes;
      } catch (error) {
        if (!(error instanceof MlsError)) throw error;
        this.groups.apply({ channel: entry.channel, bufferRemove: [ready.id] });
        outcomes.push({ kind: "rejected", channel: entry.channel, seq, epoch: ready.epoch, code: error.code });
      }
    }
    return outcomes;
  }
}
