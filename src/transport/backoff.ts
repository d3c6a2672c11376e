/** How reconnect delays grow: exponential from `baseMs`, never above `capMs`. */
export interface BackoffPolicy {
  readonly baseMs: number;
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 250, capMs: 30_000 };

/**
 * Full jitter (a uniform draw below the exponential ceiling): many clients that lost the same relay
 * come back spread out instead of in waves.
 */
export function backoffDelay(attempt: number, random: () => number, policy: BackoffPolicy = DEFAULT_BACKOFF): number {
  // The exponent is clamped so that 2 ** attempt stays finite however long the relay is away.
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 32));
  return Math.floor(random() * ceiling);
}
