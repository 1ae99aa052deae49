/** How long to wait before retrying a failed call to the API. */
export interface BackoffPolicy {
  /** Ceiling of the first retry's wait. */
  readonly baseMs: number;
  /** No wait is ever longer than this. */
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 500, capMs: 30_000 };

/**
 * Exponential backoff with full jitter: a uniform draw from [0, min(cap, base·2^attempt)).
 * Jitter spreads a fleet of agents that lost the API at the same moment, so they do not all
 * come back at once. `attempt` counts failures so far, from 0; `random` returns [0, 1).
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.max(0, Math.min(attempt, 30)));
  return Math.floor(random() * ceiling);
}
