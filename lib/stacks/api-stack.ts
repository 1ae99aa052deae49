import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib/core';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { fleetRoleName, type GatewayConfig } from '../config';
import type { AccessTokenKey, CaKey } from '../constructs/ca-key';
import { GatewayApi } from '../constructs/gateway-api';
import type { GatewayTable } from '../constructs/gateway-table';
import { FLEET_TAGS } from '../constructs/node-fleet';
import { exportName } from '../exports';

export interface ApiStackProps extends StackProps {
  readonly config: GatewayConfig;
  readonly table: GatewayTable;
  readonly caKey: CaKey;
  readonly accessTokenKey: AccessTokenKey;
  /** Base64 of the access token key's raw public key (state stack custom resource attribute). */
  readonly accessTokenPublicKey: string;
}

/** The HTTP API on API Gateway (REST, v1 routes) and the Lambda functions behind it. */
export class ApiStack extends Stack {
  readonly api: GatewayApi;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.api = new GatewayApi(this, 'Api', {
      table: props.table,
      caKey: props.caKey,
      accessTokenKey: props.accessTokenKey,
      accessTokenPublicKey: props.accessTokenPublicKey,
      restApiName: `${config.name}-api`,
      certificateLifetimeHours: config.certificateLifetimeHours,
      rateLimit: config.api.rateLimit,
      burstLimit: config.api.burstLimit,
      logRetention: config.logRetentionDays as RetentionDays,
      nodeRegistration: {
        lighthouseRoleName: fleetRoleName(config, 'lighthouse'),
        proxyRoleName: fleetRoleName(config, 'proxy'),
        networkTag: `${FLEET_TAGS.network}=${config.name}`,
        roleTagKey: FLEET_TAGS.role,
      },
    });

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, exportName: exportName(config, 'ApiUrl') });
  }
}
