import type { RelayLimits } from "./config.js";

/** What the slots need of a link: to close it. */
export interface SlotHolder {
  close(code: number, reason: string): void;
}

/** What links that have not authenticated hold at the relay (Relay.linkSlots). */
export interface PreAuthStats {
  /** Links open now that have not authenticated. */
  readonly waiting: number;
  /** Bytes their links hold for them now (a partial cell record; fragments are refused before Auth). */
  readonly bufferedBytes: number;
  /** The most bytes all of them together ever held at once. */
  readonly peakBufferedBytes: number;
  /** Closed to make room for a newer one while the budget was full. */
  readonly evicted: number;
  /** Closed at the deadline (RelayLimits.authTimeoutMs). */
  readonly expired: number;
}

interface Waiting {
  readonly timer: NodeJS.Timeout;
  buffered: number;
}

/**
 * The relay's link slots. A link that has not authenticated takes one of a small budget of its
 * own (maxPreAuthLinks), and only for authTimeoutMs; the slots of authenticated links
 * (maxConnections) are taken at Auth. So sockets without a token can never crowd out agents that
 * have one. When the budget is full, the oldest waiting link makes room for the new one: a flood
 * then has to open links faster than an honest client authenticates to keep it out, instead of
 * merely holding the budget until the deadline.
 */
export class LinkSlots {
  /** In arrival order: the first is the oldest. */
  private readonly waitingLinks = new Map<SlotHolder, Waiting>();
  private readonly authenticatedLinks = new Set<SlotHolder>();
  private buffered = 0;
  private peakBuffered = 0;
  private evictions = 0;
  private expiries = 0;

  constructor(private readonly limits: Pick<RelayLimits, "maxConnections" | "maxPreAuthLinks" | "authTimeoutMs">) {}

  /** Whether authenticated links fill every slot: a new link could not authenticate. */
  get full(): boolean {
    return this.authenticatedLinks.size >= this.limits.maxConnections;
  }

  get stats(): PreAuthStats {
    return { waiting: this.waitingLinks.size, bufferedBytes: this.buffered, peakBufferedBytes: this.peakBuffered, evicted: this.evictions, expired: this.expiries };
  }

  /** Gives a new link a slot until it authenticates or its deadline passes, closing the oldest waiting link if the budget is full. */
  admit(link: SlotHolder): void {
    while (this.waitingLinks.size >= this.limits.maxPreAuthLinks) {
      const [oldest] = this.waitingLinks.keys();
      if (oldest === undefined) break;
      this.evictions++;
      this.release(oldest);
      oldest.close(1013, "too many links waiting to authenticate; retry");
    }
    const timer = setTimeout(() => {
      if (!this.waitingLinks.has(link)) return;
      this.expiries++;
      this.release(link);
      link.close(1008, "handshake and auth must finish within the time limit");
    }, this.limits.authTimeoutMs);
    timer.unref();
    this.waitingLinks.set(link, { timer, buffered: 0 });
  }

  /** Records how many bytes a waiting link holds for its peer now. */
  holding(link: SlotHolder, bytes: number): void {
    const waiting = this.waitingLinks.get(link);
    if (waiting === undefined) return;
    this.buffered += bytes - waiting.buffered;
    waiting.buffered = bytes;
    if (this.buffered > this.peakBuffered) this.peakBuffered = this.buffered;
  }

  /** Moves a link that authenticated to a slot of its own; false (and it keeps none) when those are all taken. */
  promote(link: SlotHolder): boolean {
    this.release(link);
    if (this.full) return false;
    this.authenticatedLinks.add(link);
    return true;
  }

  /** Frees whatever slot the link holds (it closed). */
  release(link: SlotHolder): void {
    const waiting = this.waitingLinks.get(link);
    if (waiting !== undefined) {
      clearTimeout(waiting.timer);
      this.buffered -= waiting.buffered;
      this.waitingLinks.delete(link);
    }
    this.authenticatedLinks.delete(link);
  }
}
