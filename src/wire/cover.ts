import { BUCKETS } from "./buckets.js";

/** off: no cover; poisson: dummies at exponential intervals, real frames at once; constant: a fixed-rate stream real frames replace dummies in. */
export type CoverMode = "off" | "poisson" | "constant";
export const COVER_MODES: readonly CoverMode[] = ["off", "poisson", "constant"];

export interface CoverConfig {
  readonly mode: CoverMode;
  /** poisson: mean dummy frames per second; constant: frames per second. */
  readonly rate: number;
}

/** Rates are capped so that a misconfiguration cannot flood a link. */
export const MAX_COVER_RATE = 1000;
export const DEFAULT_COVER: Record<CoverMode, CoverConfig> = {
  off: { mode: "off", rate: 0 },
  poisson: { mode: "poisson", rate: 1 },
  constant: { mode: "constant", rate: 20 },
};

export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const realTimers: Timers = {
  setTimeout: (fn, ms) => {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout: (h) => clearTimeout(h as NodeJS.Timeout),
};

/** Draws cover sizes from the sizes of recent real frames, so cover looks like traffic. */
export class SizeSampler {
  private readonly recent: number[] = [];
  private at = 0;

  constructor(private readonly capacity = 64) {}

  record(size: number): void {
    if (this.recent.length < this.capacity) this.recent.push(size);
    else this.recent[this.at] = size;
    this.at = (this.at + 1) % this.capacity;
  }

  sample(random: () => number): number {
    if (this.recent.length === 0) return BUCKETS[0];
    return this.recent[Math.floor(random() * this.recent.length)] as number;
  }
}

/**
 * Decides when frames go out. `sendReal(items, slot)` seals and sends real pieces, `sendCover(size)`
 * a dummy. Off and poisson hand each item over at once (slot false: the owner may pack it with
 * whatever else it sends in this turn); constant mode hands over, in each slot, the queued items
 * that `packing` lets share one frame (slot true: they go in that one frame, now). The owner records
 * the sizes of the real frames it sends in `sizes`, which cover sizes are drawn from. Clock,
 * timers and randomness are injected so tests can drive it step by step.
 */
export class CoverScheduler<T> {
  private readonly queue: T[] = [];
  private timer: unknown;
  private running = false;
  readonly sizes = new SizeSampler();

  constructor(
    private readonly config: CoverConfig,
    private readonly io: {
      sendReal(items: readonly T[], slot: boolean): void;
      sendCover(size: number): void;
      /**
       * constant mode: how items share one slot's frame (default: one item per slot). `bytes` is
       * what an item adds to a frame, undefined for one that must go alone; a slot takes items
       * while their sum stays within `budget`.
       */
      packing?: { readonly budget: number; bytes(item: T): number | undefined };
      timers?: Timers;
      random?: () => number;
      /** constant mode: most queued real frames before submit refuses more (bounded memory). */
      maxQueue?: number;
    },
  ) {
    if (!(config.rate >= 0 && config.rate <= MAX_COVER_RATE)) throw new RangeError(`cover rate must be 0-${MAX_COVER_RATE}`);
  }

  private get timers(): Timers {
    return this.io.timers ?? realTimers;
  }

  private random(): number {
    return (this.io.random ?? Math.random)();
  }

  start(): void {
    if (this.running || this.config.mode === "off" || this.config.rate === 0) return;
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Hands a real piece over; false when the constant-mode queue is full (the caller retries later). */
  submit(item: T): boolean {
    if (this.config.mode !== "constant" || !this.running) {
      this.io.sendReal([item], false);
      return true;
    }
    if (this.queue.length >= (this.io.maxQueue ?? 10_000)) return false;
    this.queue.push(item);
    return true;
  }

  /** Real pieces still waiting for a constant-mode slot. */
  get queued(): number {
    return this.queue.length;
  }

  private delayMs(): number {
    const rate = this.config.rate;
    if (this.config.mode === "constant") return 1000 / rate;
    return (-Math.log(1 - this.random()) / rate) * 1000;
  }

  /** The queued items one slot carries: the first, and those after it that fit with it. */
  private takeSlot(): T[] {
    const packing = this.io.packing;
    let count = 1;
    let used = packing?.bytes(this.queue[0] as T);
    while (packing !== undefined && used !== undefined && count < this.queue.length) {
      const bytes = packing.bytes(this.queue[count] as T);
      if (bytes === undefined || used + bytes > packing.budget) break;
      used += bytes;
      count++;
    }
    return this.queue.splice(0, count);
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => this.tick(), this.delayMs());
  }

  private tick(): void {
    if (!this.running) return;
    if (this.queue.length > 0) this.io.sendReal(this.takeSlot(), true);
    else this.io.sendCover(this.sizes.sample(() => this.random()));
    this.schedule();
  }
}
