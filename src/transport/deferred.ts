import type { Timers } from "../wire/cover.js";
import type { TransportError } from "./errors.js";

/** A promise settled once from outside, with a deadline. */
export class Deferred<T> {
  readonly promise: Promise<T>;
  private resolveFn!: (value: T) => void;
  private rejectFn!: (error: TransportError) => void;
  private readonly timer: unknown;
  private done = false;

  constructor(
    private readonly timers: Timers,
    timeoutMs: number,
    onTimeout: () => TransportError,
    private readonly onDone: () => void,
  ) {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolveFn = resolve;
      this.rejectFn = reject;
    });
    this.timer = timers.setTimeout(() => this.reject(onTimeout()), timeoutMs);
  }

  /** Whether the promise is settled (answered, refused or past its deadline). */
  get settled(): boolean {
    return this.done;
  }

  /** Fulfils the promise unless it is already settled. */
  resolve(value: T): void {
    if (this.finish()) this.resolveFn(value);
  }

  /** Rejects the promise unless it is already settled. */
  reject(error: TransportError): void {
    if (this.finish()) this.rejectFn(error);
  }

  private finish(): boolean {
    if (this.done) return false;
    this.done = true;
    this.timers.clearTimeout(this.timer);
    this.onDone();
    return true;
  }
}
