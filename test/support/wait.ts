import { inspect } from 'node:util';

export interface WaitOptions {
  /** How long to keep trying: it only bounds the wait, no timing is asserted. @default 20000 */
  readonly timeoutMs?: number;
  /** Pause between tries. @default 50 */
  readonly intervalMs?: number;
  /**
   * Errors from `probe` that mean "not yet" (a port not listening yet, say): those are retried
   * and the last one is reported on timeout. Any other error fails the wait at once.
   * @default none: every error fails the wait
   */
  readonly retryOn?: (error: unknown) => boolean;
}

/** The one polling wait of the tests: gave up, saying what it waited for and what it last saw. */
export class WaitTimeoutError extends Error {
  constructor(what: string, timeoutMs: number, lastValue: unknown, lastError: unknown) {
    const saw = lastError === undefined ? `last saw ${inspect(lastValue, { depth: 4, breakLength: Infinity })}` : `last error: ${String(lastError)}`;
    super(`still waiting for ${what} after ${timeoutMs} ms; ${saw}`, lastError === undefined ? undefined : { cause: lastError });
    this.name = 'WaitTimeoutError';
  }
}

/**
 * Polls `probe` until `ok` holds for what it returns, and resolves with that value. Past the
 * deadline, rejects with a WaitTimeoutError naming `what` and the last value (or expected error).
 */
export async function waitUntil<T>(
  what: string,
  probe: () => T | Promise<T>,
  ok: (value: T) => boolean = Boolean,
  options: WaitOptions = {},
): Promise<T> {
  const { timeoutMs = 20_000, intervalMs = 50, retryOn = () => false } = options;
  const giveUpAt = Date.now() + timeoutMs;
  let lastValue: T | undefined;
  let lastError: unknown;
  for (;;) {
    try {
      lastValue = await probe();
      lastError = undefined;
      if (ok(lastValue)) return lastValue;
    } catch (error) {
      if (!retryOn(error)) throw error;
      lastError = error;
    }
    if (Date.now() > giveUpAt) throw new WaitTimeoutError(what, timeoutMs, lastValue, lastError);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** Network errors that mean a server is not (or no longer) accepting connections yet. */
export function isConnectionRefusal(error: unknown): boolean {
  const codes = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ECONNABORTED']);
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (codes.has((e as NodeJS.ErrnoException).code ?? '')) return true;
  }
  return false;
}
