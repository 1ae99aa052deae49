import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib/core';
import { ComparisonOperator, Metric } from 'aws-cdk-lib/aws-cloudwatch';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { egressEnabled, fleetRoleName, type GatewayConfig, watchUrl } from '../config';
import type { AccessTokenKey, CaKey } from '../constructs/ca-key';
import { API_STAGE, GatewayApi } from '../constructs/gateway-api';
import { GatewayAlarms } from '../constructs/gateway-alarms';
import type { GatewayTable } from '../constructs/gateway-table';
import { FLEET_TAGS } from '../constructs/node-fleet';
import { publishDeployTimeValue } from '../deploy-time-values';
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
  readonly alarms: GatewayAlarms;

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
      adminRoleArns: config.admins.roleArns,
      watchUrl: watchUrl(config),
      nodeRegistration: {
        lighthouseRoleName: fleetRoleName(config, this.region, 'lighthouse'),
        proxyRoleName: fleetRoleName(config, this.region, 'proxy'),
        ...(egressEnabled(config) ? { egressRoleName: fleetRoleName(config, this.region, 'egress') } : {}),
        networkTag: `${FLEET_TAGS.network}=${config.name}`,
        roleTagKey: FLEET_TAGS.role,
      },
    });

    this.alarms = new GatewayAlarms(this, 'Alarms', { config });
    this.alarms.add('api-5xx', {
      metric: this.api.api.metricServerError({ period: Duration.minutes(5), statistic: 'Sum' }),
      description: 'API Gateway answered 5xx (function errors, timeouts, integration failures)',
      threshold: 5,
      comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    });
    // Latency is watched on enrollment: the call every new environment waits on.
    this.alarms.add('api-enroll-latency', {
      metric: new Metric({
        namespace: 'AWS/ApiGateway',
        metricName: 'Latency',
        dimensionsMap: { ApiName: this.api.api.restApiName, Stage: API_STAGE, Resource: '/v1/enroll', Method: 'POST' },
        statistic: 'p99',
        period: Duration.minutes(5),
      }),
      description: 'POST /v1/enroll p99 latency over 5 s for 15 minutes (KMS signing or DynamoDB slow)',
      threshold: 5000,
      comparison: ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
    });
    for (const [name, fn] of Object.entries(this.api.functions)) this.alarms.addFunction(name, fn);

    publishDeployTimeValue(this, config, 'apiUrl', this.api.url);
    publishDeployTimeValue(this, config, 'registerRouteArn', this.api.registerRouteArn);

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, exportName: exportName(config, 'ApiUrl') });
  }
}
