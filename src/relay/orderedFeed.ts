import type { BatchRoom } from "./replayBudget.js";

/** Something with a place in a stream of dense seqs. */
export interface Sequenced {
  readonly seq: bigint;
}

export interface FeedIo<T extends Sequenced> {
  /**
   * Items with seq ≥ fromSeq from the store, oldest first: a batch of them, of at most `maxBytes`
   * (but at least one item), fewer once the end is reached.
   */
  read(fromSeq: bigint, maxBytes: number): Promise<readonly T[]>;
  send(item: T): void;
  /** The bytes an item holds while it waits to be sent. */
  size(item: T): number;
  /** Runs one replay batch (its read and its sends) when the link and the relay have room for it (replayBudget.ts). */
  turn(batch: (room: BatchRoom) => Promise<void>): Promise<void>;
  /** False once the link is gone: the feed stops. */
  open(): boolean;
  /** A read failed (the store was unavailable); the feed tries again after a pause. */
  failed(error: unknown): void;
}

/** Pause before reading again after a failed read, or a read that came back short of what is known to exist. */
const RETRY_MS = 200;
/** Empty reads before the seqs up to the known end are taken as gone (pruned, or acknowledged inbox items). */
const EMPTY_READS = 2;

/**
 * One link's place in one ordered stream (a channel it follows, or its inbox): every item from
 * the start seq on goes out exactly once, in seq order, whether it comes from the store (a replay,
 * read in batches, one after the other, each when the replay budget gives its link a turn) or
 * live. While a replay runs, live items are not sent but extend how far the replay must read;
 * once it has read past everything known to exist, live items go out as they come. A live item
 * past a gap starts a replay from the gap.
 */
export class OrderedFeed<T extends Sequenced> {
  private next = 1n;
  /** The highest seq known to exist: the store's last at start, or a live item seen since. */
  private end = 0n;
  private live = false;
  private closed = false;
  /** Each (re)start begins a new replay; an older one stops at its next step. */
  private run = 0;

  constructor(private readonly io: FeedIo<T>) {}

  /**
   * (Re)starts the feed at `fromSeq`, the store holding up to `lastSeq` now. A start past the end
   * begins at the end, so that new items still go out (a client whose cursor is ahead of the
   * store sees what comes next, and skips it itself).
   */
  start(fromSeq: bigint, lastSeq: bigint): void {
    this.next = fromSeq < 1n ? 1n : fromSeq > lastSeq + 1n ? lastSeq + 1n : fromSeq;
    if (lastSeq > this.end) this.end = lastSeq;
    this.live = false;
    void this.replay(++this.run);
  }

  /** A new item of the stream, as it is stored. */
  offer(item: T): void {
    if (this.closed || item.seq < this.next) return;
    if (this.live && item.seq === this.next) {
      this.next++;
      this.io.send(item);
      return;
    }
    if (item.seq > this.end) this.end = item.seq;
    if (this.live) {
      // A gap: something between was missed here; the store has it.
      this.live = false;
      void this.replay(++this.run);
    }
  }

  close(): void {
    this.closed = true;
    this.run++;
  }

  private current(run: number): boolean {
    return run === this.run && !this.closed && this.io.open();
  }

  private async replay(run: number): Promise<void> {
    let empty = 0;
    while (this.current(run)) {
      if (this.next > this.end) {
        this.live = true;
        return;
      }
      let outcome: "stopped" | "failed" | "sent" | "empty" = "stopped";
      await this.io.turn(async (room) => {
        // A later start (or the close) may have come while this batch waited for its turn.
        if (!this.current(run)) return;
        let items: readonly T[];
        try {
          items = await this.io.read(this.next, room.maxBytes);
        } catch (error) {
          if (!this.current(run)) return;
          this.io.failed(error);
          outcome = "failed";
          return;
        }
        room.hold(items.reduce((n, item) => n + this.io.size(item), 0));
        if (!this.current(run)) return;
        outcome = "empty";
        for (const item of items) {
          if (item.seq < this.next) continue;
          this.next = item.seq + 1n;
          outcome = "sent";
          this.io.send(item);
          if (!this.current(run)) return;
        }
      });
      if (outcome === "stopped" || !this.current(run)) return;
      if (outcome === "failed") {
        await sleep(RETRY_MS);
        continue;
      }
      if (outcome === "sent") {
        empty = 0;
        continue;
      }
      // Nothing at or after `next`, though items up to `end` exist: they were removed (retention,
      // an acknowledged inbox), or a store replica has not caught up yet. Ask again once, then move on.
      if (++empty >= EMPTY_READS) this.next = this.end + 1n;
      else await sleep(RETRY_MS / 4);
    }
  }
}

const sleep = (ms: number) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, ms);
    timer.unref();
  });
