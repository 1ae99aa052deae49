import { Duration, Stack } from 'aws-cdk-lib/core';
import { Alarm, ComparisonOperator, type IMetric, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Topic } from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { CA_EXPIRY_DIMENSION, CA_EXPIRY_METRIC_NAME, CA_EXPIRY_WARNING_DAYS } from '../../src/api/ca-expiry-contract';
import type { GatewayConfig } from '../config';
import type { GatewayFunction } from './gateway-function';

/** The alarm topic's fixed name: every stack's alarms notify it without a cross-stack reference. */
export function alarmTopicName(config: Pick<GatewayConfig, 'name'>): string {
  return `${config.name}-alarms`;
}

/** Alarm names are `<name>-<id>`: fixed, so the monitoring stack's dashboard can show them by name. */
export function alarmName(config: Pick<GatewayConfig, 'name'>, id: string): string {
  return `${config.name}-${id}`;
}

/**
 * The CA certificate's remaining validity, published by the gateway server's sweep (in days,
 * Minimum over the period); name and dimension come from src/api/ca-expiry-contract.ts, which the server uses too.
 */
export const CA_EXPIRY_METRIC = { namespace: 'NebulaGateway', metricName: CA_EXPIRY_METRIC_NAME, dimension: CA_EXPIRY_DIMENSION } as const;
/** Alarm when the CA has fewer days left than this: time to plan the move to a new gateway (docs/deploy.md). */
export const CA_EXPIRY_ALARM_DAYS = 60;

export interface AlarmSpec {
  readonly metric: IMetric;
  /** What is wrong when it fires, for the alarm's description and the e-mail. */
  readonly description: string;
  readonly threshold: number;
  readonly comparison: ComparisonOperator;
  /** @default 1 */
  readonly evaluationPeriods?: number;
  /** @default NOT_BREACHING: no data means nothing happened (no errors, no throttles) */
  readonly treatMissingData?: TreatMissingData;
}

/**
 * One stack's alarms, each named `<name>-<id>` and notifying the alarm topic (MonitoringStack).
 * Stacks add the alarms about what they own, with direct references to it.
 */
export class GatewayAlarms extends Construct {
  readonly alarms: Alarm[] = [];
  /** The alarms' names, as plain strings (for the dashboard in another stack: no cross-stack reference). */
  readonly names: string[] = [];
  private readonly config: Pick<GatewayConfig, 'name'>;
  private readonly action: SnsAction;

  constructor(scope: Construct, id: string, props: { config: Pick<GatewayConfig, 'name'> }) {
    super(scope, id);
    this.config = props.config;
    const stack = Stack.of(this);
    const topic = Topic.fromTopicArn(this, 'Topic', stack.formatArn({ service: 'sns', resource: alarmTopicName(props.config) }));
    this.action = new SnsAction(topic);
  }

  add(id: string, spec: AlarmSpec): Alarm {
    const name = alarmName(this.config, id);
    const alarm = new Alarm(this, id, {
      alarmName: name,
      alarmDescription: spec.description,
      metric: spec.metric,
      threshold: spec.threshold,
      comparisonOperator: spec.comparison,
      evaluationPeriods: spec.evaluationPeriods ?? 1,
      treatMissingData: spec.treatMissingData ?? TreatMissingData.NOT_BREACHING,
    });
    alarm.addAlarmAction(this.action);
    alarm.addOkAction(this.action);
    this.alarms.push(alarm);
    this.names.push(name);
    return alarm;
  }

  /** Errors and throttles of one function. */
  addFunction(id: string, fn: GatewayFunction): void {
    const period = Duration.minutes(5);
    this.add(`${id}-errors`, {
      metric: fn.function.metricErrors({ period, statistic: 'Sum' }),
      description: `Lambda ${id}: invocations failed (see its log group)`,
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.add(`${id}-throttles`, {
      metric: fn.function.metricThrottles({ period, statistic: 'Sum' }),
      description: `Lambda ${id}: invocations throttled (account or reserved concurrency exhausted)`,
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
  }
}

/**
 * The CA expiry alarms on the server's metric: `ca-expiry` under CA_EXPIRY_ALARM_DAYS (also when
 * the server stops reporting: missing data breaches), and `ca-expiry-30d` / `ca-expiry-7d` under
 * the API's warning thresholds (GET /v1/network `caExpiry.warning`): start a CA rotation.
 */
export function addCaExpiryAlarms(alarms: GatewayAlarms, config: Pick<GatewayConfig, 'name'>): void {
  alarms.add('ca-expiry', {
    metric: caExpiryMetric(config),
    description: `The network's CA certificate expires in under ${CA_EXPIRY_ALARM_DAYS} days, or the server stopped reporting it (missing data counts)`,
    threshold: CA_EXPIRY_ALARM_DAYS,
    comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
    treatMissingData: TreatMissingData.BREACHING,
  });
  for (const days of CA_EXPIRY_WARNING_DAYS) {
    alarms.add(`ca-expiry-${days}d`, {
      metric: caExpiryMetric(config),
      description: `The network's CA certificate expires in under ${days} days: start a CA rotation now (docs/ca-rotation.md); it takes about two certificate lifetimes`,
      threshold: days,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      // The `ca-expiry` alarm already reports a silent server.
      treatMissingData: TreatMissingData.NOT_BREACHING,
    });
  }
}

/** The CA expiry metric for one network. */
export function caExpiryMetric(config: Pick<GatewayConfig, 'name'>): Metric {
  return new Metric({
    namespace: CA_EXPIRY_METRIC.namespace,
    metricName: CA_EXPIRY_METRIC.metricName,
    dimensionsMap: { [CA_EXPIRY_METRIC.dimension]: config.name },
    statistic: 'Minimum',
    period: Duration.hours(1),
  });
}
