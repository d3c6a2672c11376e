import type { Timers } from "./cover.js";

export interface SlotClockOptions {
  /** poisson: exponential gaps of mean 1/rate s; constant: gaps of exactly 1/rate s. */
  readonly mode: "poisson" | "constant";
  readonly rate: number;
  readonly timers: Timers;
  readonly now: () => number;
  readonly random: () => number;
}

/**
 * The slots of a paced link: a schedule drawn in advance from the mode, the rate and randomness
 * alone, never from what the link sends. Each slot is an absolute deadline, the last one plus the
 * next gap, so a late timer does not push the slots after it. Slots that fall due while the
 * process is busy (a timer that fires late, past one or more further deadlines) collapse into the
 * one frame sent then, counted in `missed`: never a burst of frames to catch up.
 */
export class SlotClock {
  private deadline = 0;
  private timer: unknown;
  private running = false;
  /** Slots that passed while an earlier one was being served late. */
  missed = 0;

  constructor(
    private readonly o: SlotClockOptions,
    private readonly onSlot: () => void,
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.deadline = this.o.now() + this.gap();
    this.arm();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== undefined) this.o.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The next gap in ms. */
  private gap(): number {
    if (this.o.mode === "constant") return 1000 / this.o.rate;
    return (-Math.log(1 - this.o.random()) / this.o.rate) * 1000;
  }

  private arm(): void {
    // Timers take whole milliseconds: round up, so that a slot never fires before its deadline.
    this.timer = this.o.timers.setTimeout(this.tick, Math.max(0, Math.ceil(this.deadline - this.o.now())));
  }

  private readonly tick = (): void => {
    this.timer = undefined;
    if (!this.running) return;
    const now = this.o.now();
    if (now >= this.deadline) {
      this.deadline += this.gap();
      while (this.deadline <= now) {
        this.missed++;
        this.deadline += this.gap();
      }
      this.onSlot();
    }
    if (this.running) this.arm();
  };
}
