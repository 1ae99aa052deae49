import { CfnOutput, Duration, Stack, type StackProps } from 'aws-cdk-lib/core';
import { ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import { CfnSecurityGroupEgress, CfnSecurityGroupIngress, type IVpc } from 'aws-cdk-lib/aws-ec2';
import { NetworkTargetGroup } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { egressEnabled, type GatewayConfig, watchUrl } from '../config';
import type { CaKey } from '../constructs/ca-key';
import { CA_EXPIRY_METRIC, GatewayAlarms } from '../constructs/gateway-alarms';
import { GatewayServer, SERVER_PORT } from '../constructs/gateway-server';
import type { GatewayTable } from '../constructs/gateway-table';
import { consumeDeployTimeValue, type DeployTimeValue } from '../deploy-time-values';
import { exportName } from '../exports';
import { vpcFor } from './network-stack';

export interface ServerStackProps extends StackProps {
  readonly config: GatewayConfig;
  /** The VPC the network stack created; absent when the config imports an existing one. */
  readonly vpc?: IVpc;
  readonly table: GatewayTable;
  readonly caKey: CaKey;
}

/** The Cloud Map namespace of the server: `<name>.internal` (lower case). */
export function serverNamespaceName(config: Pick<GatewayConfig, 'name'>): string {
  return `${config.name.toLowerCase()}.internal`;
}

/**
 * The gateway server on ECS Fargate (`GatewayServer`), named in Cloud Map as `server.<name>.internal`,
 * its tasks registered in the Fleets stack's watch target group (behind `watch.<domain>:8443`), and
 * who may reach them on the server port: the lighthouses, the proxies, the NLB (and the egress nodes). The Fleets stack's
 * values come from SSM at each deploy (lib/deploy-time-values.ts); this stack is deployed after it.
 */
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
      namespaceName: serverNamespaceName(config),
      certificateLifetimeHours: config.certificateLifetimeHours,
      cpu: config.server.cpu,
      memoryMiB: config.server.memoryMiB,
      desiredCount: config.server.desiredCount,
      watchUrl: watchUrl(config),
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

    const fleets = (value: DeployTimeValue) => consumeDeployTimeValue(this, config, value);
    this.server.service.attachToNetworkTargetGroup(
      NetworkTargetGroup.fromTargetGroupAttributes(this, 'WatchTargets', { targetGroupArn: fleets('watchTargetGroupArn') }),
    );
    const serverGroupId = this.server.securityGroup.securityGroupId;
    const port = { ipProtocol: 'tcp', fromPort: SERVER_PORT, toPort: SERVER_PORT };
    const sources: [string, DeployTimeValue, string][] = [
      ['Lighthouses', 'lighthouseSecurityGroupId', 'the lighthouses'],
      ['Proxies', 'proxySecurityGroupId', 'the proxies'],
      ['LoadBalancer', 'loadBalancerSecurityGroupId', "the proxy NLB's watch listener and its health checks"],
    ];
    if (egressEnabled(config)) sources.push(['Egress', 'egressSecurityGroupId', "the egress nodes (agent and `gateway egress run`)"]);
    for (const [name, value, what] of sources) {
      new CfnSecurityGroupIngress(this, `ServerFrom${name}`, { groupId: serverGroupId, sourceSecurityGroupId: fleets(value), ...port, description: `gateway server from ${what}` });
    }
    // The NLB's group allows no outbound traffic but what is added (to the proxies, and here).
    new CfnSecurityGroupEgress(this, 'LoadBalancerToServer', {
      groupId: fleets('loadBalancerSecurityGroupId'),
      destinationSecurityGroupId: serverGroupId,
      ...port,
      description: 'proxy NLB to the gateway server tasks (watches, health checks)',
    });

    new CfnOutput(this, 'ServerEndpoint', { value: this.server.endpoint, exportName: exportName(config, 'ServerEndpoint') });
  }
}
