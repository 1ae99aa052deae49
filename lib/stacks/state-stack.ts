import { CfnOutput, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib/core';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type IPublicHostedZone, PublicHostedZone } from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import { AccessTokenKey, CaKey } from '../constructs/ca-key';
import { GatewayTable } from '../constructs/gateway-table';
import { NetworkCa } from '../constructs/network-ca';
import { exportName } from '../exports';

export interface StateStackProps extends StackProps {
  readonly config: GatewayConfig;
}

/**
 * What must outlive every other stack: the table, the CA key, the access token key, the CA
 * certificate and network record (written by a custom resource), and a hosted zone this app created. All retained; the
 * stateless stacks can be destroyed and redeployed around them.
 */
export class StateStack extends Stack {
  readonly table: GatewayTable;
  readonly caKey: CaKey;
  /** Signs the proxies' access tokens; never the CA key. */
  readonly accessTokenKey: AccessTokenKey;
  readonly ca: NetworkCa;
  /** The zone this app created; undefined when the config imports one. */
  readonly hostedZone?: IPublicHostedZone;

  constructor(scope: Construct, id: string, props: StateStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.table = new GatewayTable(this, 'Table');
    this.caKey = new CaKey(this, 'CaKey', { backend: config.caKeyBackend });
    this.accessTokenKey = new AccessTokenKey(this, 'AccessTokenKey', { backend: config.caKeyBackend });

    if (config.hostedZone.mode === 'create') {
      const zone = new PublicHostedZone(this, 'HostedZone', { zoneName: config.domain });
      zone.applyRemovalPolicy(RemovalPolicy.RETAIN);
      this.hostedZone = zone;
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

    new CfnOutput(this, 'TableName', { value: this.table.tableName, exportName: exportName(config, 'TableName') });
    new CfnOutput(this, 'OverlayCidr', { value: config.overlayCidr, exportName: exportName(config, 'OverlayCidr') });
    new CfnOutput(this, 'CaFingerprint', { value: this.ca.fingerprint, exportName: exportName(config, 'CaFingerprint') });
  }
}
