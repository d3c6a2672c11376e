/** What one replay batch may read, and how it says what it read. */
export interface BatchRoom {
  /** Bytes the batch may read (it reads at least one item, whatever its size). */
  readonly maxBytes: number;
  /** The bytes the batch read and holds until they have left the link. */
  hold(bytes: number): void;
}

/** What ReplayBudget.stats reports: bytes read by replays and not yet out of the relay's buffers. */
export interface ReplayStats {
  /** Held now, by every link. */
  readonly heldBytes: number;
  /** The most held at once, by every link. */
  readonly peakBytes: number;
  /** The most one link held at once. */
  readonly peakLinkBytes: number;
  /** Batches waiting for their turn (their link's earlier batch, or room in the relay-wide budget). */
  readonly waiting: number;
}

/** How one batch is paced on its link. */
export interface ReplayTurn {
  /** Bytes this link's batch may read: less for a link that sends slowly (cover pacing). */
  readonly batchBytes: number;
  /** Resolves once the batch has left the relay's buffers for this link (or the link closed, or was dropped as too slow). */
  readonly drained: () => Promise<void>;
}

/**
 * Replays stream, they are not built whole: each link replays one batch at a time (a batch of
 * the channel or inbox it replays, bounded in items and bytes), and the batches of every link
 * share a relay-wide budget of bytes. A batch holds its share from before it is read until its
 * bytes have drained out of the link's buffers (socket or pacer queue) down to a low-water mark,
 * so that what is read for clients and not yet on its way is bounded per link (one batch) and in
 * total (the budget, plus at most one item per batch). Turns are granted in order of request.
 */
export class ReplayBudget<L extends object> {
  private free: number;
  private readonly queue: { bytes: number; grant: () => void }[] = [];
  /** Each link's last batch: the next one starts after it. */
  private readonly lanes = new WeakMap<L, Promise<void>>();
  private readonly heldBy = new Map<L, number>();
  private held = 0;
  private peak = 0;
  private peakLink = 0;
  private waitingTurns = 0;

  constructor(private readonly maxBytes: number) {
    this.free = maxBytes;
  }

  stats(): ReplayStats {
    return { heldBytes: this.held, peakBytes: this.peak, peakLinkBytes: this.peakLink, waiting: this.waitingTurns };
  }

  /** Runs `batch` once `link`'s earlier batches are done and the budget has room for it; resolves once it drained. */
  turn(link: L, pace: ReplayTurn, batch: (room: BatchRoom) => Promise<void>): Promise<void> {
    this.waitingTurns++;
    const after = this.lanes.get(link) ?? Promise.resolve();
    const mine = after.then(() => this.run(link, pace, batch));
    const lane = mine.then(
      () => undefined,
      () => undefined,
    );
    this.lanes.set(link, lane);
    return mine;
  }

  private async run(link: L, pace: ReplayTurn, batch: (room: BatchRoom) => Promise<void>): Promise<void> {
    // Never more than the whole budget, or the batch would wait for ever.
    let reserved = Math.max(1, Math.min(pace.batchBytes, this.maxBytes));
    await this.acquire(reserved);
    this.waitingTurns--;
    let held = 0;
    const room: BatchRoom = {
      maxBytes: reserved,
      hold: (bytes) => {
        // Past the reservation only by the one item a batch always reads.
        this.free += reserved - bytes;
        reserved = bytes;
        this.count(link, bytes - held);
        held = bytes;
      },
    };
    try {
      await batch(room);
      if (held > 0) await pace.drained();
    } finally {
      this.count(link, -held);
      this.free += reserved;
      this.wake();
    }
  }

  private count(link: L, delta: number): void {
    if (delta === 0) return;
    this.held += delta;
    const mine = (this.heldBy.get(link) ?? 0) + delta;
    if (mine === 0) this.heldBy.delete(link);
    else this.heldBy.set(link, mine);
    if (this.held > this.peak) this.peak = this.held;
    if (mine > this.peakLink) this.peakLink = mine;
  }

  private acquire(bytes: number): Promise<void> {
    if (this.queue.length === 0 && this.free >= bytes) {
      this.free -= bytes;
      return Promise.resolve();
    }
    return new Promise((grant) => this.queue.push({ bytes, grant }));
  }

  private wake(): void {
    while (this.queue.length > 0 && this.free >= this.queue[0]!.bytes) {
      const next = this.queue.shift()!;
      this.free -= next.bytes;
      next.grant();
    }
  }
}
