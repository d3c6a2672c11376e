/**
 * Quotas per authenticated identity (principal), per period, per relay node: what one identity may
 * make this node store for it or take from others, however many links it uses. Each principal has
 * a fixed window that starts with its first charge and lasts `periodMs`; its counts reset when the
 * window ends. Memory is bounded: at most MAX_TRACKED principals are held, those whose window has
 * ended are dropped first, and past the bound the oldest window goes (its identity starts afresh).
 */

/** What is counted: the names refusals and /metrics use (stable: part of the protocol's error messages). */
export const QUOTA_NAMES = ["channels_opened", "archive_bytes", "inbox_items", "inbox_bytes", "welcome_recipients", "key_packages_taken"] as const;
export type QuotaName = (typeof QUOTA_NAMES)[number];

export interface QuotaLimits {
  /** Length of a principal's window, after which its counts start again from zero. */
  readonly periodMs: number;
  /** Channels opened (ChannelOpen). */
  readonly channelsOpened: number;
  /** Bytes archived: messages, proposals, commits, relay-through frames to channels, and each Welcome once per recipient. */
  readonly archiveBytes: number;
  /** Relay-through items put into other agents' inboxes. */
  readonly inboxItems: number;
  /** Bytes of those items. */
  readonly inboxBytes: number;
  /** Recipients named by Welcomes. */
  readonly welcomeRecipients: number;
  /** Key packages taken from other agents' directories (KeyPackageFetch). */
  readonly keyPackagesTaken: number;
}

/** Principals whose windows are held; the oldest beyond it is forgotten. */
export const MAX_TRACKED = 50_000;

const LIMIT_OF: Record<QuotaName, keyof Omit<QuotaLimits, "periodMs">> = {
  channels_opened: "channelsOpened",
  archive_bytes: "archiveBytes",
  inbox_items: "inboxItems",
  inbox_bytes: "inboxBytes",
  welcome_recipients: "welcomeRecipients",
  key_packages_taken: "keyPackagesTaken",
};

/** A charge that did not fit: which quota, its limit, and when the principal's window ends. */
export interface QuotaRefusal {
  readonly quota: QuotaName;
  readonly limit: number;
  readonly periodMs: number;
  readonly resetInMs: number;
  /** Whether the request alone is over the limit (waiting cannot help). */
  readonly never: boolean;
}

interface Window {
  readonly start: number;
  readonly used: Map<QuotaName, number>;
}

export class Quotas {
  /** In order of window start: ended windows are at the front. */
  private readonly windows = new Map<string, Window>();
  /** Totals charged and refusals, by quota, for /metrics. */
  readonly charged = new Map<QuotaName, number>();
  readonly refused = new Map<QuotaName, number>();

  constructor(
    private readonly limits: QuotaLimits,
    private readonly clock: () => number = Date.now,
    private readonly maxTracked = MAX_TRACKED,
  ) {}

  /** Principals whose windows are held now. */
  get tracked(): number {
    return this.windows.size;
  }

  /**
   * Charges every amount to `principal`, or none of them when one would pass its limit: then
   * says which. Amounts of 0 are not checked.
   */
  charge(principal: string, amounts: Partial<Record<QuotaName, number>>): QuotaRefusal | undefined {
    const now = this.clock();
    const window = this.windowOf(principal, now);
    const entries = Object.entries(amounts) as [QuotaName, number][];
    for (const [quota, amount] of entries) {
      if (amount <= 0) continue;
      const limit = this.limits[LIMIT_OF[quota]];
      if ((window.used.get(quota) ?? 0) + amount > limit) {
        this.refused.set(quota, (this.refused.get(quota) ?? 0) + 1);
        return { quota, limit, periodMs: this.limits.periodMs, resetInMs: window.start + this.limits.periodMs - now, never: amount > limit };
      }
    }
    for (const [quota, amount] of entries) {
      if (amount <= 0) continue;
      window.used.set(quota, (window.used.get(quota) ?? 0) + amount);
      this.charged.set(quota, (this.charged.get(quota) ?? 0) + amount);
    }
    return undefined;
  }

  private windowOf(principal: string, now: number): Window {
    this.dropEnded(now);
    const held = this.windows.get(principal);
    if (held !== undefined && now < held.start + this.limits.periodMs) return held;
    this.windows.delete(principal);
    if (this.windows.size >= this.maxTracked) this.windows.delete(this.windows.keys().next().value as string);
    const fresh = { start: now, used: new Map<QuotaName, number>() };
    this.windows.set(principal, fresh);
    return fresh;
  }

  /** Drops the windows that have ended, oldest first (a clock that went back ends none). */
  private dropEnded(now: number): void {
    for (const [principal, window] of this.windows) {
      if (now < window.start + this.limits.periodMs) return;
      this.windows.delete(principal);
    }
  }
}

/** A refusal as the relay says it: which quota, its limit, and when it resets. Stable in its first words. */
export function describeRefusal(r: QuotaRefusal): string {
  const period = `${Math.round(r.periodMs / 1000)} s`;
  const head = `quota ${r.quota} exceeded: at most ${r.limit} per ${period} for one identity on this relay node`;
  if (r.never) return `${head}; this request alone is over it`;
  return `${head}; it resets in ${Math.max(1, Math.ceil(r.resetInMs / 1000))} s`;
}
