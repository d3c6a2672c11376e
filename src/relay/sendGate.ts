/**
 * Holds back what the relay sends while a batch of requests is being stored, and lets it out, in
 * order, once the batch is committed: no client hears "stored" before it is. Group commit is
 * what makes one SQLite transaction per burst instead of per frame possible.
 */
export class SendGate {
  private held: (() => void)[] | undefined;

  /** Runs `send` now, or after the current batch commits. */
  pass(send: () => void): void {
    if (this.held === undefined) send();
    else this.held.push(send);
  }

  /** Runs `store` with sends held; releases them if it returns, drops them if it throws. */
  batch(store: () => void): void {
    this.held = [];
    let released: (() => void)[];
    try {
      store();
      released = this.held;
    } finally {
      this.held = undefined;
    }
    released.forEach((send) => send());
  }
}
