/** A version read taking longer than this is abandoned; the next tick reads again. */
const POLL_TIMEOUT_MS = 5000;

/** Why a wait ended: the network changed (`changed`), this host changed (`host`), time ran out, or the client left. */
export type WaitOutcome = 'changed' | 'host' | 'timeout' | 'aborted';

interface Waiter {
  readonly hostId: string;
  /** The network config version the waiter's current response was built from. */
  readonly version: number;
  readonly wake: (outcome: WaitOutcome) => void;
}

/**
 * Wakes long-polling config requests when something in their config may have changed. Changes
 * made by this process notify directly; changes made by other instances (the Lambda API, another
 * server task) are seen by polling the network's config version item, one strongly consistent
 * GetItem per interval for all waiters together, and only while someone waits (see README.md for
 * why this and not DynamoDB Streams). A waiter costs a closure and one timer for its whole wait:
 * nothing runs per waiter while nothing changes.
 */
export class ChangeFeed {
  /** Waiters by host id: a host's own change wakes only its waiters. */
  private readonly waiters = new Map<string, Set<Waiter>>();
  /** How many waiters hold each version: a poll that finds them all current costs nothing per waiter. */
  private readonly versions = new Map<number, number>();
  private count = 0;
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
      let done = false;
      const finish = (outcome: WaitOutcome) => {
        if (done) return;
        done = true;
        clearTimeout(timeout);
        signal?.removeEventListener('abort', onAbort);
        this.remove(waiter);
        resolve(outcome);
      };
      const onAbort = () => finish('aborted');
      const waiter: Waiter = { hostId, version, wake: finish };
      const timeout = setTimeout(() => finish('timeout'), Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
      this.add(waiter);
    });
  }

  /** Something in every host's config changed (revocation, lighthouses, CA). */
  notifyNetwork(): void {
    for (const waiter of this.all()) waiter.wake('changed');
  }

  /** Something in one host's config changed (a new certificate). */
  notifyHost(hostId: string): void {
    for (const waiter of [...(this.waiters.get(hostId) ?? [])]) waiter.wake('host');
  }

  /** Wakes every waiter with 'aborted' and stops polling (server shutdown). */
  close(): void {
    for (const waiter of this.all()) waiter.wake('aborted');
    this.stopPolling();
  }

  get waiting(): number {
    return this.count;
  }

  private add(waiter: Waiter): void {
    let set = this.waiters.get(waiter.hostId);
    if (!set) this.waiters.set(waiter.hostId, (set = new Set()));
    set.add(waiter);
    this.versions.set(waiter.version, (this.versions.get(waiter.version) ?? 0) + 1);
    this.count++;
    this.startPolling();
  }

  private remove(waiter: Waiter): void {
    const set = this.waiters.get(waiter.hostId);
    if (!set?.delete(waiter)) return;
    if (set.size === 0) this.waiters.delete(waiter.hostId);
    const holding = (this.versions.get(waiter.version) ?? 1) - 1;
    if (holding === 0) this.versions.delete(waiter.version);
    else this.versions.set(waiter.version, holding);
    if (--this.count === 0) this.stopPolling();
  }

  private all(): Waiter[] {
    return [...this.waiters.values()].flatMap((set) => [...set]);
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
    let giveUp: NodeJS.Timeout | undefined;
    try {
      // A read that never answers must not stop the polls for good (a hung connection has no timeout of its own).
      const hung = new Promise<never>((_, reject) => {
        giveUp = setTimeout(() => reject(new Error('version read timed out')), POLL_TIMEOUT_MS);
      });
      const version = await Promise.race([this.readVersion(), hung]);
      if (this.versions.size === 1 && this.versions.has(version)) return;
      for (const waiter of this.all()) if (waiter.version !== version) waiter.wake('changed');
    } catch {
      // The store did not answer this time; waiters still time out, and the next poll may work.
    } finally {
      clearTimeout(giveUp);
      this.polling = false;
    }
  }
}
