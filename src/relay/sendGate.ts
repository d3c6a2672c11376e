/**
 * Holds back what the relay sends while a batch of requests is being stored, and lets it out once
 * the batch is committed: no client hears "stored" before it is. Group commit is what makes one
 * SQLite transaction per burst instead of per frame possible.
 *
 * Each send belongs to one link (its owner). Released sends keep their order on every link; across
 * links the batch may put some links first (a link's frames are sealed with its own key and nonce
 * sequence, so only the order within a link is observable or meaningful).
 */
export class SendGate<Owner = unknown> {
  private held: [Owner, () => void][] | undefined;

  /** Runs `send` now, or after the current batch commits. */
  pass(owner: Owner, send: () => void): void {
    if (this.held === undefined) send();
    else this.held.push([owner, send]);
  }

  /**
   * Runs `store` with sends held; drops them if it throws. Otherwise releases the sends of the
   * owners `first` picks, calls `between`, then releases the others, each in the order held.
   */
  batch(store: () => void, first: (owner: Owner) => boolean = () => true, between: () => void = () => undefined): void {
    this.held = [];
    let released: [Owner, () => void][];
    try {
      store();
      released = this.held;
    } finally {
      this.held = undefined;
    }
    const later: (() => void)[] = [];
    for (const [owner, send] of released) {
      if (first(owner)) send();
      else later.push(send);
    }
    between();
    later.forEach((send) => send());
  }
}
