import { CloudWatchClient, PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { type GatewayStore, parseCertificateBundle } from '../api';
import { CA_EXPIRY_DIMENSION, CA_EXPIRY_METRIC_NAME } from '../api/ca-expiry-contract';

/** Well inside the alarm's one-hour period, so one failed put never leaves the period empty. */
export const CA_EXPIRY_REPORT_INTERVAL_MS = 15 * 60_000;

const DAY_MS = 86_400_000;

/**
 * Days (fractional, negative once past) until the network can no longer verify certificates: the
 * latest expiry among the bundle's CAs, since a bundle mid-rotation holds the old CA and its successor.
 */
export function caDaysToExpiry(caBundle: string, now: Date): number {
  const last = Math.max(...parseCertificateBundle(caBundle).map((c) => c.expiresAt.getTime()));
  return (last - now.getTime()) / DAY_MS;
}

/** Where a measured value goes. */
export type CaExpirySink = (days: number) => Promise<void>;

/** Puts the value into CloudWatch as `<namespace>/CaCertificateDaysToExpiry` with `Network=<network>`. */
export function cloudWatchCaExpirySink(options: { namespace: string; network: string; client?: CloudWatchClient }): CaExpirySink {
  const client = options.client ?? new CloudWatchClient({});
  return async (days) => {
    await client.send(
      new PutMetricDataCommand({
        Namespace: options.namespace,
        MetricData: [{ MetricName: CA_EXPIRY_METRIC_NAME, Dimensions: [{ Name: CA_EXPIRY_DIMENSION, Value: options.network }], Value: days, Unit: 'Count' }],
      }),
    );
  };
}

/**
 * Reports the CA's days to expiry at start and every `intervalMs`. A failed report is logged and
 * retried at the next tick; the alarm treats missing data as breaching, so a silent server is seen.
 */
export function startCaExpiryReporter(options: {
  store: GatewayStore;
  sink: CaExpirySink;
  clock: () => Date;
  log: (line: string) => void;
  intervalMs?: number;
}): { stop(): Promise<void> } {
  let running: Promise<void> | undefined;
  const report = async () => {
    const network = await options.store.getNetwork();
    if (!network) throw new Error('the table holds no network record');
    // The log's warnings (30 and 7 days, once a day each) are the sweep's (sweeper.ts).
    await options.sink(caDaysToExpiry(network.caBundle, options.clock()));
  };
  const tick = () => {
    running ??= report()
      .catch((err: Error) => options.log(`CA expiry report failed: ${err.message}`))
      .finally(() => {
        running = undefined;
      });
  };
  tick();
  const timer = setInterval(tick, options.intervalMs ?? CA_EXPIRY_REPORT_INTERVAL_MS);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
