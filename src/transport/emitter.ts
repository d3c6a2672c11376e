type Listener = (payload: never) => void;

/**
 * A minimal typed event emitter. A listener that throws must not break the link it is called
 * from, so the exception goes to `onListenerError` instead of up the socket's stack.
 */
export class Emitter<Events extends { [K in keyof Events]: Listener }> {
  private readonly listeners = new Map<keyof Events, Set<Listener>>();

  constructor(private readonly onListenerError: (error: unknown, event: keyof Events) => void) {}

  /** Adds a listener; the returned function removes it. */
  on<K extends keyof Events>(event: K, listener: Events[K]): () => void {
    let set = this.listeners.get(event);
    if (set === undefined) this.listeners.set(event, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  /** Calls every listener of `event` with `payload`. */
  emit<K extends keyof Events>(event: K, payload: Parameters<Events[K]>[0]): void {
    for (const listener of [...(this.listeners.get(event) ?? [])]) {
      try {
        (listener as (p: typeof payload) => void)(payload);
      } catch (error) {
        this.onListenerError(error, event);
      }
    }
  }
}
