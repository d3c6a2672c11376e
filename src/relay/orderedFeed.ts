/** Something with a place in a stream of dense seqs. */
export interface Sequenced {
  readonly seq: bigint;
}

export interface FeedIo<T extends Sequenced> {
  /** Items with seq ≥ fromSeq from the store, oldest first (a batch of them; fewer once the end is reached). */
  read(fromSeq: bigint): Promise<readonly T[]>;
  send(item: T): void;
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
 * read in batches, one after the other) or live. While a replay runs, live items are not sent but
 * extend how far the replay must read; once it has read past everything known to exist, live
 * items go out as they come. A live item past a gap starts a replay from the gap.
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
      let items: readonly T[];
      try {
        items = await this.io.read(this.next);
      } catch (error) {
        if (!this.current(run)) return;
        this.io.failed(error);
        await sleep(RETRY_MS);
        continue;
      }
      if (!this.current(run)) return;
      let sent = false;
      for (const item of items) {
        if (item.seq < this.next) continue;
        this.next = item.seq + 1n;
        sent = true;
        this.io.send(item);
        if (!this.current(run)) return;
      }
      if (sent) {
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
