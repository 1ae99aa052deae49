import type { GatewayStore } from '../api';

/**
 * The periodic sweep: removes revocations whose certificates have expired and releases addresses
 * whose quarantine has ended. Runs one sweep at a time; a failed sweep is reported and retried at
 * the next tick.
 */
export function startSweeper(options: {
  store: GatewayStore;
  clock: () => Date;
  intervalMs: number;
  onError: (err: Error) => void;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const tick = () => {
    if (running) return;
    running = options.store
      .sweep(options.clock())
      .then(() => undefined, (err: Error) => options.onError(err))
      .finally(() => {
        running = undefined;
      });
  };
  const timer = setInterval(tick, options.intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
