import { CellWriter } from "./cells.js";
import { cellOf, type CoverConfig, type Timers } from "./cover.js";
import { cellCapacity } from "./frames.js";
import { SLOT_PACKING, type LinkCodec } from "./link.js";
import { SlotClock } from "./slotClock.js";

const EMPTY = new Uint8Array(0);

/** What goes into a slot's frame: queued real data, or cover when there is none. */
interface SlotFill {
  push(pieces: readonly Uint8Array[]): void;
  readonly queuedBytes: number;
  /** This slot's frame, and whether it is cover. */
  next(): { frame: Uint8Array; cover: boolean };
}

/** Link revision 3 and later: the pieces as one byte stream, cut into cells of one size. */
class CellFill implements SlotFill {
  private readonly writer = new CellWriter();

  constructor(
    private readonly codec: LinkCodec,
    private readonly cell: number,
  ) {}

  get queuedBytes(): number {
    return this.writer.bytes;
  }

  push(pieces: readonly Uint8Array[]): void {
    for (const piece of pieces) this.writer.push(piece);
  }

  next(): { frame: Uint8Array; cover: boolean } {
    const plaintext = this.writer.take(cellCapacity(this.cell));
    // A cover cell is all zeros: the same as an empty cell.
    return { frame: this.codec.sealCell(plaintext ?? EMPTY, this.cell), cover: plaintext === undefined };
  }
}

/**
 * A peer of link revision 1 or 2, which reads no cells: a slot carries whole pieces (as many as
 * share a frame, if the peer reads packed frames) in the bucket they need, so sizes still tell
 * what is sent; cover frames have the cell's size. Timing is paced all the same.
 */
class PieceFill implements SlotFill {
  private readonly queue: Uint8Array[] = [];
  private head = 0;
  private bytes = 0;

  constructor(
    private readonly codec: LinkCodec,
    private readonly cell: number,
  ) {}

  get queuedBytes(): number {
    return this.bytes;
  }

  push(pieces: readonly Uint8Array[]): void {
    for (const piece of pieces) {
      this.queue.push(piece);
      this.bytes += piece.length;
    }
  }

  next(): { frame: Uint8Array; cover: boolean } {
    if (this.head === this.queue.length) return { frame: this.codec.sealCover(this.cell), cover: true };
    const start = this.head;
    let used = SLOT_PACKING.bytes(this.queue[this.head++] as Uint8Array);
    while (this.codec.packs && this.head < this.queue.length) {
      const more = SLOT_PACKING.bytes(this.queue[this.head] as Uint8Array);
      if (used + more > SLOT_PACKING.budget) break;
      used += more;
      this.head++;
    }
    const pieces = this.queue.slice(start, this.head);
    for (const piece of pieces) this.bytes -= piece.length;
    if (this.head === this.queue.length) {
      this.queue.length = 0;
      this.head = 0;
    }
    return { frame: this.codec.sealTogether(pieces), cover: false };
  }
}

export interface LinkPacerOptions {
  readonly cover: CoverConfig & { readonly mode: "poisson" | "constant" };
  readonly codec: LinkCodec;
  /** The link revision the peer announced: from 3 on it reads cells (this side announced that it paces). */
  readonly peerRevision: number;
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
 * of the cell size (to a peer that reads cells); what is submitted waits for the next slots in
 * order and takes the place of cover there. So the link's shape on the wire (when frames leave,
 * how large they are) is the schedule's, whatever is sent. When real data comes faster than the
 * slots carry it, it queues: a message of B bytes behind Q queued ones leaves after about
 * (Q + B) / (cell capacity × rate) seconds; past maxQueuedBytes, submit refuses.
 */
export class LinkPacer {
  private readonly fill: SlotFill;
  private readonly clock: SlotClock;

  constructor(private readonly o: LinkPacerOptions) {
    const cell = cellOf(o.cover);
    this.fill = o.peerRevision >= 3 ? new CellFill(o.codec, cell) : new PieceFill(o.codec, cell);
    this.clock = new SlotClock({ mode: o.cover.mode, rate: o.cover.rate, timers: o.timers, now: o.now, random: o.random }, () => this.slot());
  }

  /** Bytes waiting for slots. */
  get queuedBytes(): number {
    return this.fill.queuedBytes;
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
    if (this.fill.queuedBytes + bytes > this.o.maxQueuedBytes) return false;
    this.fill.push(pieces);
    return true;
  }

  /**
   * Sends at once, outside the schedule, up to `frames` frames of what is queued: when the link
   * closes, a last answer (an Error saying why) goes before the close. The observer sees the
   * close anyway; the rest is dropped, and the peer gets it again when it resumes.
   */
  drain(frames: number): void {
    for (let i = 0; i < frames && this.fill.queuedBytes > 0; i++) {
      const { frame, cover } = this.fill.next();
      this.o.write(frame, cover);
    }
  }

  private slot(): void {
    const { frame, cover } = this.fill.next();
    this.o.write(frame, cover);
  }
}
