import { CfnOutput, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib/core';
import { ComparisonOperator, MathExpression, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type IPublicHostedZone, PublicHostedZone } from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import { AccessTokenKey, CaKey, STATEFUL_REMOVAL_POLICY } from '../constructs/ca-key';
import { GatewayTable } from '../constructs/gateway-table';
import { NetworkCa } from '../constructs/network-ca';
import { addCaExpiryAlarms, GatewayAlarms } from '../constructs/gateway-alarms';
import { exportName } from '../exports';

export interface StateStackProps extends StackProps {
  readonly config: GatewayConfig;
}

/**
 * What must outlive every other stack: the table, the CA key, the access token key, the CA
 * certificate and network record (written by a custom resource), and a hosted zone this app created. All retained
 * (except when their own create rolls back: STATEFUL_REMOVAL_POLICY); the stateless stacks can be
 * destroyed and redeployed around them.
 */
export class StateStack extends Stack {
  readonly table: GatewayTable;
  readonly caKey: CaKey;
  /** Signs the proxies' access tokens; never the CA key. */
  readonly accessTokenKey: AccessTokenKey;
  readonly ca: NetworkCa;
  /** The zone this app created; undefined when the config imports one. */
  readonly hostedZone?: IPublicHostedZone;
  readonly alarms: GatewayAlarms;

  constructor(scope: Construct, id: string, props: StateStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.table = new GatewayTable(this, 'Table');
    this.caKey = new CaKey(this, 'CaKey', { backend: config.caKeyBackend, slot: config.caKeySlot, nextKey: config.caNextKey });
    this.accessTokenKey = new AccessTokenKey(this, 'AccessTokenKey', { backend: config.caKeyBackend });

    if (config.hostedZone.mode === 'create') {
      const zone = new PublicHostedZone(this, 'HostedZone', { zoneName: config.domain });
      zone.applyRemovalPolicy(STATEFUL_REMOVAL_POLICY);
      this.hostedZone = zone;
      // Delegate the domain to these from its parent zone (docs/deploy.md).
      new CfnOutput(this, 'NameServers', {
        value: Fn.join(',', zone.hostedZoneNameServers!),
        description: `NS records to add for ${config.domain} in its parent zone`,
      });
    }

    this.ca = new NetworkCa(this, 'NetworkCa', {
      table: this.table,
      caKey: this.caKey,
      accessTokenKey: this.accessTokenKey,
      overlayCidr: config.overlayCidr,
      caName: `${config.name} CA`,
      caLifetimeDays: config.caLifetimeDays,
      logRetention: config.logRetentionDays as RetentionDays,
    });

    this.alarms = new GatewayAlarms(this, 'Alarms', { config });
    addCaExpiryAlarms(this.alarms, config);
    this.alarms.add('table-throttles', {
      metric: new MathExpression({
        expression: 'reads + writes',
        usingMetrics: {
          reads: new Metric({ namespace: 'AWS/DynamoDB', metricName: 'ReadThrottleEvents', dimensionsMap: { TableName: this.table.tableName }, statistic: 'Sum' }),
          writes: new Metric({ namespace: 'AWS/DynamoDB', metricName: 'WriteThrottleEvents', dimensionsMap: { TableName: this.table.tableName }, statistic: 'Sum' }),
        },
        period: Duration.minutes(5),
        label: 'throttled requests',
      }),
      description: 'DynamoDB throttled reads or writes on the gateway table',
      threshold: 1,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    this.alarms.addFunction('ca-init', this.ca.function);

    new CfnOutput(this, 'TableName', { value: this.table.tableName, exportName: exportName(config, 'TableName') });
    new CfnOutput(this, 'OverlayCidr', { value: config.overlayCidr, exportName: exportName(config, 'OverlayCidr') });
    new CfnOutput(this, 'CaFingerprint', { value: this.ca.fingerprint, exportName: exportName(config, 'CaFingerprint') });
  }
}
