import { type Api, caExpiryOf, type GatewayStore, parseCertificateBundle } from '../api';

const DAY_MS = 86_400_000;

/**
 * The periodic sweep: removes revocations whose certificates have expired, releases addresses
 * whose quarantine has ended, moves a CA rotation on (when `api` is given) and warns in the log
 * when the CA expires within 30 or 7 days (once a day per threshold). Runs one sweep at a time; a
 * failed sweep is reported and retried at the next tick.
 */
export function startSweeper(options: {
  store: GatewayStore;
  clock: () => Date;
  intervalMs: number;
  onError: (err: Error) => void;
  /** Moves a CA rotation on; none: only the store is swept. */
  api?: Pick<Api, 'advanceCaRotation'>;
  /** Where the CA expiry warnings and rotation phases go; none: they are not logged. */
  log?: (line: string) => void;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const warnings = new CaExpiryWarnings();
  const sweep = async () => {
    const now = options.clock();
    await options.store.sweep(now);
    if (options.api) {
      for (const phase of await options.api.advanceCaRotation()) options.log?.(`CA rotation: entered phase ${phase}`);
    }
    if (options.log) {
      const network = await options.store.getNetwork();
      const line = network && warnings.check(network.caBundle, now);
      if (line) options.log(line);
    }
  };
  const tick = () => {
    if (running) return;
    running = sweep()
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

/** The CA expiry warning of the log: each threshold (30 days, 7 days, expired) once per day. */
export class CaExpiryWarnings {
  private readonly lastDay = new Map<string, number>();

  /** The line to log at `now`, if a threshold is crossed and was not reported today. */
  check(caBundle: string, now: Date): string | undefined {
    const expiry = caExpiryOf(parseCertificateBundle(caBundle), now);
    if (expiry.warning === 'ok') return undefined;
    const day = Math.floor(now.getTime() / DAY_MS);
    if (this.lastDay.get(expiry.warning) === day) return undefined;
    this.lastDay.set(expiry.warning, day);
    return expiry.warning === 'expired'
      ? `warning: the network's CA certificate expired at ${expiry.notAfter}; hosts cannot renew: rotate the CA (docs/ca-rotation.md)`
      : `warning: the network's CA certificate expires in ${expiry.daysLeft} days (${expiry.notAfter}, under the ${expiry.warning} threshold); start a CA rotation (docs/ca-rotation.md)`;
  }
}
