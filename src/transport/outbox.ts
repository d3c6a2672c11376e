/** A request handed to the transport and not yet answered by the relay. */
export interface OutboxEntry {
  readonly id: number;
  /** The encoded envelope with request id 0; the transport gives it a fresh id on every send. */
  readonly envelope: Uint8Array;
}

/**
 * Where outgoing stored requests wait until the relay answers them. An entry must survive until
 * the relay answers it: `add` keeps it at once (a durable outbox may write it to disk by the end
 * of the event-loop turn, as the store's SqliteOutbox does, since nobody learns of a send's fate
 * sooner), ids must grow, and `list` returns entries in id order. Synchronous on purpose: nothing
 * can be sent between a caller handing a frame over and it being kept.
 */
export interface Outbox {
  /** Stores an entry and returns its id. */
  add(envelope: Uint8Array): number;
  /** Forgets an entry the relay answered; unknown ids are ignored. */
  remove(id: number): void;
  /** Every entry still waiting, oldest first. */
  list(): OutboxEntry[];
}

/** An outbox that lives as long as the process: for tests, and library users without a store. */
export class MemoryOutbox implements Outbox {
  private readonly entries = new Map<number, Uint8Array>();
  private nextId = 1;

  /** Stores a copy of the envelope. */
  add(envelope: Uint8Array): number {
    const id = this.nextId++;
    this.entries.set(id, envelope.slice());
    return id;
  }

  /** Forgets an entry. */
  remove(id: number): void {
    this.entries.delete(id);
  }

  /** Entries in id order (a Map iterates in insertion order, and ids only grow). */
  list(): OutboxEntry[] {
    return [...this.entries].map(([id, envelope]) => ({ id, envelope }));
  }
}
