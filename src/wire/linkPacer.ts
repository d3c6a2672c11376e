import { CellWriter } from "./cells.js";
import { cellOf, type CoverConfig, type Timers } from "./cover.js";
import { cellCapacity } from "./frames.js";
import type { LinkCodec } from "./link.js";
import { SlotClock } from "./slotClock.js";

const EMPTY = new Uint8Array(0);

export interface LinkPacerOptions {
  readonly cover: CoverConfig & { readonly mode: "poisson" | "constant" };
  readonly codec: LinkCodec;
  /** Sends one sealed frame now. */
  readonly write: (frame: Uint8Array, cover: boolean) => void;
  /** Most bytes that may wait for slots; submit refuses past it. */
  readonly maxQueuedBytes: number;
  readonly timers: Timers;
  readonly now: () => number;
  readonly random: () => number;
}

/**
 * One direction of a paced link: frames leave only in the slots of a SlotClock, one per slot, all
 * of the cell size; what is submitted waits for the next slots in
 * order and takes the place of cover there. So the link's shape on the wire (when frames leave,
 * how large they are) is the schedule's, whatever is sent. When real data comes faster than the
 * slots carry it, it queues: a message of B bytes behind Q queued ones leaves after about
 * (Q + B) / (cell capacity × rate) seconds; past maxQueuedBytes, submit refuses.
 */
export class LinkPacer {
  /** The pieces waiting for slots, as one byte stream to be cut into cells. */
  private readonly writer = new CellWriter();
  private readonly cell: number;
  private readonly clock: SlotClock;

  constructor(private readonly o: LinkPacerOptions) {
    this.cell = cellOf(o.cover);
    this.clock = new SlotClock({ mode: o.cover.mode, rate: o.cover.rate, timers: o.timers, now: o.now, random: o.random }, () => this.slot());
  }

  /** Bytes waiting for slots. */
  get queuedBytes(): number {
    return this.writer.bytes;
  }

  start(): void {
    this.clock.start();
  }

  stop(): void {
    this.clock.stop();
  }

  /** Queues one envelope's pieces, in order, for the next slots; false (nothing queued) past maxQueuedBytes. */
  submit(pieces: readonly Uint8Array[]): boolean {
    const bytes = pieces.reduce((s, p) => s + p.length, 0);
    if (this.writer.bytes + bytes > this.o.maxQueuedBytes) return false;
    for (const piece of pieces) this.writer.push(piece);
    return true;
  }

  /**
   * Sends at once, outside the schedule, up to `frames` frames of what is queued: when the link
   * closes, a last answer (an Error saying why) goes before the close. The observer sees the
   * close anyway; the rest is dropped, and the peer gets it again when it resumes.
   */
  drain(frames: number): void {
    for (let i = 0; i < frames && this.writer.bytes > 0; i++) this.slot();
  }

  /** This slot's frame: the next cell of queued data, or a cover cell (all zeros, the same as an empty one). */
  private slot(): void {
    const plaintext = this.writer.take(cellCapacity(this.cell));
    this.o.write(this.o.codec.sealCell(plaintext ?? EMPTY, this.cell), plaintext === undefined);
  }
}
