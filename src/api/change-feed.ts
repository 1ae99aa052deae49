/** Why a wait ended. */
export type WaitOutcome = 'changed' | 'timeout' | 'aborted';

interface Waiter {
  readonly hostId: string;
  /** The network config version the waiter's current response was built from. */
  readonly version: number;
  readonly wake: (outcome: WaitOutcome) => void;
}

/**
 * Wakes long-polling config requests when something in their config may have changed. Changes
 * made by this process notify directly; changes made by other instances (the Lambda API, another
 * server) are seen by polling the network's config version item, one read per interval for all
 * waiters together, and only while someone waits.
 */
export class ChangeFeed {
  private readonly waiters = new Set<Waiter>();
  private timer: NodeJS.Timeout | undefined;
  private polling = false;

  constructor(
    private readonly readVersion: () => Promise<number>,
    private readonly pollIntervalMs: number,
  ) {}

  /** Resolves when `hostId`'s config may have changed, when `timeoutMs` passes, or when `signal` aborts. */
  wait(hostId: string, version: number, timeoutMs: number, signal?: AbortSignal): Promise<WaitOutcome> {
    if (signal?.aborted) return Promise.resolve('aborted');
    return new Promise((resolve) => {
      const finish = (outcome: WaitOutcome) => {
        clearTimeout(timeout);
        signal?.removeEventListener('abort', onAbort);
        this.waiters.delete(waiter);
        if (this.waiters.size === 0) this.stopPolling();
        resolve(outcome);
      };
      const onAbort = () => finish('aborted');
      const waiter: Waiter = { hostId, version, wake: finish };
      const timeout = setTimeout(() => finish('timeout'), Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.add(waiter);
      this.startPolling();
    });
  }

  /** Something in every host's config changed (revocation, lighthouses, CA). */
  notifyNetwork(): void {
    for (const waiter of [...this.waiters]) waiter.wake('changed');
  }

  /** Something in one host's config changed (a new certificate). */
  notifyHost(hostId: string): void {
    for (const waiter of [...this.waiters]) if (waiter.hostId === hostId) waiter.wake('changed');
  }

  /** Wakes every waiter with 'aborted' and stops polling (server shutdown). */
  close(): void {
    for (const waiter of [...this.waiters]) waiter.wake('aborted');
    this.stopPolling();
  }

  get waiting(): number {
    return this.waiters.size;
  }

  private startPolling(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.poll(), this.pollIntervalMs);
    this.timer.unref();
  }

  private stopPolling(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private async poll(): Promise<void> {
    if (this.polling) return;
    this.polling = true;
    try {
      const version = await this.readVersion();
      for (const waiter of [...this.waiters]) if (waiter.version !== version) waiter.wake('changed');
    } catch {
      // The store did not answer this time; waiters still time out, and the next poll may work.
    } finally {
      this.polling = false;
    }
  }
}
