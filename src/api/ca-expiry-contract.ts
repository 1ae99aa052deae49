/**
 * What the API, the gateway server and the stack's alarms agree on about the CA's expiry. Plain
 * values, no imports: lib/constructs/gateway-alarms.ts reads them without loading the API.
 */

/** Days before the CA's expiry at which the API, the logs and the alarms warn. */
export const CA_EXPIRY_WARNING_DAYS = [30, 7] as const;

/** The metric the gateway server publishes (src/server/ca-expiry-metric.ts) and the alarms watch. */
export const CA_EXPIRY_METRIC_NAME = 'CaCertificateDaysToExpiry';
/** Its one dimension; the value is the network's name. */
export const CA_EXPIRY_DIMENSION = 'Network';
