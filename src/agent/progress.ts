import { AgentError } from "./types.js";

/**
 * Waiting for the channel manager to get somewhere: every processed frame (or other step that can
 * settle a wait) calls wake(), and waits re-check their condition then. Owns the timers of the
 * waits in progress, cleared on close so that nothing keeps the process alive.
 */
export class Progress {
  private readonly waiters = new Set<() => void>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private isClosed = false;

  get closed(): boolean {
    return this.isClosed;
  }

  /** Something happened: every wait checks its condition again. */
  wake(): void {
    this.waiters.forEach((wake) => wake());
  }

  /** Resolves when `done()` holds, re-checked after every wake(), or rejects with `code` on timeout. */
  until(done: () => boolean, timeoutMs: number, what: string, code = "join_timeout"): Promise<void> {
    if (done()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = () => {
        if (!done() && !this.isClosed) return;
        this.waiters.delete(check);
        this.timers.delete(timer);
        clearTimeout(timer);
        if (this.isClosed && !done()) reject(new AgentError("not_found", "the agent is closing"));
        else resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(check);
        this.timers.delete(timer);
        reject(new AgentError(code, what));
      }, timeoutMs);
      this.timers.add(timer);
      this.waiters.add(check);
    });
  }

  /** Waits `ms`, or less if the agent closes meanwhile. */
  pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.timers.delete(timer);
        this.waiters.delete(wake);
        resolve();
      };
      const wake = () => this.isClosed && done();
      const timer = setTimeout(done, ms);
      this.timers.add(timer);
      this.waiters.add(wake);
    });
  }

  /** Waits for the next wake(), `ms`, or the abort signal, whichever is first. */
  nextEvent(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /** Every wait ends now (those whose condition does not hold reject). */
  close(): void {
    this.isClosed = true;
    this.wake();
    this.timers.forEach((t) => clearTimeout(t));
  }
}
