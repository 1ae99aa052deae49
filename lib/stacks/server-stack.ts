import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib/core';
import { ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import type { CaKey } from '../constructs/ca-key';
import { CA_EXPIRY_METRIC, GatewayAlarms } from '../constructs/gateway-alarms';
import { GatewayServer } from '../constructs/gateway-server';
import type { GatewayTable } from '../constructs/gateway-table';
import { publishDeployTimeValue } from '../deploy-time-values';
import { exportName } from '../exports';
import { vpcFor } from './network-stack';

export interface ServerStackProps extends StackProps {
  readonly config: GatewayConfig;
  /** The VPC the network stack created; absent when the config imports an existing one. */
  readonly vpc?: IVpc;
  readonly table: GatewayTable;
  readonly caKey: CaKey;
}

/** The gateway server on ECS Fargate (`GatewayServer`), named in Cloud Map as `server.<name>.internal`. */
export class ServerStack extends Stack {
  readonly server: GatewayServer;
  readonly alarms: GatewayAlarms;

  constructor(scope: Construct, id: string, props: ServerStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.server = new GatewayServer(this, 'Server', {
      vpc: vpcFor(this, config, props.vpc),
      table: props.table,
      caKey: props.caKey,
      namespaceName: `${config.name.toLowerCase()}.internal`,
      certificateLifetimeHours: config.certificateLifetimeHours,
      cpu: config.server.cpu,
      memoryMiB: config.server.memoryMiB,
      desiredCount: config.server.desiredCount,
      logRetention: config.logRetentionDays as RetentionDays,
      caExpiryMetric: { namespace: CA_EXPIRY_METRIC.namespace, network: config.name },
    });

    this.alarms = new GatewayAlarms(this, 'Alarms', { config });
    // A task that crashes or fails its health check is stopped and replaced: the running count dips.
    this.alarms.add('server-tasks', {
      metric: new Metric({
        namespace: 'ECS/ContainerInsights',
        metricName: 'RunningTaskCount',
        dimensionsMap: { ClusterName: this.server.cluster.clusterName, ServiceName: this.server.service.serviceName },
        statistic: 'Minimum',
        period: Duration.minutes(1),
      }),
      description: `Fewer than ${config.server.desiredCount} gateway server task(s) running for 3 minutes: tasks restarting (see the server log group and the service events)`,
      threshold: config.server.desiredCount,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: TreatMissingData.BREACHING,
    });

    publishDeployTimeValue(this, config, 'serverSecurityGroupId', this.server.securityGroup.securityGroupId);

    new CfnOutput(this, 'ServerEndpoint', { value: this.server.endpoint, exportName: exportName(config, 'ServerEndpoint') });
  }
}
