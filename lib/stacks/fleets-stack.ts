import { CfnOutput, Duration, Fn, Stack, type StackProps } from 'aws-cdk-lib/core';
import { ComparisonOperator, Metric, TreatMissingData } from 'aws-cdk-lib/aws-cloudwatch';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type IHostedZone, PublicHostedZone } from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import { egressEnabled, egressRoutes, fleetRoleName, type GatewayConfig } from '../config';
import { AgentAsset } from '../constructs/agent-asset';
import { EgressFleet } from '../constructs/egress-fleet';
import { NetworkEgressRoutes } from '../constructs/egress-routes';
import type { GatewayTable } from '../constructs/gateway-table';
import { LighthouseFleet } from '../constructs/lighthouse-fleet';
import { GatewayAlarms } from '../constructs/gateway-alarms';
import { FLEET_TAGS } from '../constructs/node-fleet';
import { NodeLifecycle } from '../constructs/node-lifecycle';
import { ProxyFleet } from '../constructs/proxy-fleet';
import { consumeDeployTimeValue, publishDeployTimeValue } from '../deploy-time-values';
import { exportName } from '../exports';
import { vpcFor } from './network-stack';

export interface FleetsStackProps extends StackProps {
  readonly config: GatewayConfig;
  /** The VPC the network stack created; absent when the config imports an existing one. */
  readonly vpc?: IVpc;
  /** The zone the app created (state stack); absent when the config imports one. */
  readonly createdZone?: IHostedZone;
  /** The gateway table (state stack): the node-lifecycle function revokes terminated instances' hosts. */
  readonly table: GatewayTable;
  /** The gateway server in the VPC (`http://server.<namespace>:8080`, a name, not a reference): the agents' API after registration. */
  readonly serverEndpoint: string;
}

/**
 * The nebula fleets and their DNS: lighthouses (`LighthouseFleet`: fixed count, public, one
 * Elastic IP and `lighthouse-N.<domain>` record each) and proxies (`ProxyFleet`: behind an
 * internet-facing NLB, `*.<domain>` aliased to it, and the watch listener `watch.<domain>:8443`),
 * and the node-lifecycle function that revokes a terminated instance's host. The API URL and the
 * register route come from SSM at each deploy (lib/deploy-time-values.ts), so redeploying the Api
 * stack reaches this one on the next `cdk deploy --all`. It publishes the fleets' and the NLB's
 * security groups and the watch target group for the server stack, which is deployed after it:
 * ECS refuses a target group no load balancer uses yet, so the listener must exist first.
 * With `gateway.egress.enabled`, the egress nodes too (`EgressFleet`: public, one Elastic IP each,
 * the addresses and their security group exported) and the network's egress routes
 * (`NetworkEgressRoutes`: the VPC CIDR and `egress.extraCidrs`, set in the network record).
 */
export class FleetsStack extends Stack {
  readonly lighthouses: LighthouseFleet;
  readonly proxies: ProxyFleet;
  /** Only with `gateway.egress.enabled`. */
  readonly egress?: EgressFleet;
  /** Only with `gateway.egress.enabled`: the VPC CIDR and the extra CIDRs, written into the network record. */
  readonly egressRoutes?: NetworkEgressRoutes;
  readonly lifecycle: NodeLifecycle;
  readonly lighthouseNames: string[];
  readonly alarms: GatewayAlarms;

  constructor(scope: Construct, id: string, props: FleetsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const vpc = vpcFor(this, config, props.vpc);
    const zone: IHostedZone =
      config.hostedZone.mode === 'import'
        ? PublicHostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: config.hostedZone.id, zoneName: config.hostedZone.name })
        : props.createdZone!;
    const agent = new AgentAsset(this, 'Agent');
    const common = {
      config,
      vpc,
      zone,
      agent,
      apiUrl: consumeDeployTimeValue(this, config, 'apiUrl'),
      agentApiUrl: props.serverEndpoint,
      registerRouteArn: consumeDeployTimeValue(this, config, 'registerRouteArn'),
    };

    this.lighthouses = new LighthouseFleet(this, 'Lighthouses', common);
    this.proxies = new ProxyFleet(this, 'Proxies', common);
    this.lighthouseNames = this.lighthouses.names;
    if (egressEnabled(config)) {
      this.egress = new EgressFleet(this, 'Egress', {
        ...common,
        maxInstances: config.egress!.maxInstances,
        instanceType: config.egress!.instanceType,
        logRetention: config.logRetentionDays as RetentionDays,
      });
      this.egressRoutes = new NetworkEgressRoutes(this, 'EgressRoutes', {
        table: props.table,
        routes: egressRoutes(config),
        logRetention: config.logRetentionDays as RetentionDays,
      });
    }

    // The server stack admits these groups on its port and registers its tasks behind the watch listener.
    publishDeployTimeValue(this, config, 'lighthouseSecurityGroupId', this.lighthouses.securityGroup.securityGroupId);
    publishDeployTimeValue(this, config, 'proxySecurityGroupId', this.proxies.securityGroup.securityGroupId);
    publishDeployTimeValue(this, config, 'loadBalancerSecurityGroupId', this.proxies.loadBalancerSecurityGroup.securityGroupId);
    publishDeployTimeValue(this, config, 'watchTargetGroupArn', this.proxies.watchTargetGroup.targetGroupArn);
    if (this.egress) publishDeployTimeValue(this, config, 'egressSecurityGroupId', this.egress.securityGroup.securityGroupId);

    this.lifecycle = new NodeLifecycle(this, 'NodeLifecycle', {
      groups: [this.lighthouses.fleet.group, this.proxies.fleet.group, ...(this.egress ? [this.egress.fleet.group] : [])],
      table: props.table,
      logRetention: config.logRetentionDays as RetentionDays,
      environment: {
        TABLE_NAME: props.table.tableName,
        CERT_LIFETIME_HOURS: String(config.certificateLifetimeHours),
        LIGHTHOUSE_ROLE_NAME: fleetRoleName(config, this.region, 'lighthouse'),
        PROXY_ROLE_NAME: fleetRoleName(config, this.region, 'proxy'),
        ...(this.egress ? { EGRESS_ROLE_NAME: fleetRoleName(config, this.region, 'egress') } : {}),
        FLEET_TAG_NETWORK: `${FLEET_TAGS.network}=${config.name}`,
        FLEET_TAG_ROLE: FLEET_TAGS.role,
      },
    });

    this.alarms = new GatewayAlarms(this, 'Alarms', { config });
    this.alarms.add('lighthouses-in-service', {
      metric: new Metric({
        namespace: 'AWS/AutoScaling',
        metricName: 'GroupInServiceInstances',
        dimensionsMap: { AutoScalingGroupName: this.lighthouses.fleet.group.autoScalingGroupName },
        statistic: 'Minimum',
        period: Duration.minutes(1),
      }),
      description: `Fewer than ${config.lighthouses.count} lighthouses in service for 5 minutes`,
      threshold: config.lighthouses.count,
      comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
      evaluationPeriods: 5,
      treatMissingData: TreatMissingData.BREACHING,
    });
    if (this.egress) {
      this.alarms.add('egress-in-service', {
        metric: new Metric({
          namespace: 'AWS/AutoScaling',
          metricName: 'GroupInServiceInstances',
          dimensionsMap: { AutoScalingGroupName: this.egress.fleet.group.autoScalingGroupName },
          statistic: 'Minimum',
          period: Duration.minutes(1),
        }),
        description: `Fewer than ${config.egress!.maxInstances} egress nodes in service for 5 minutes`,
        threshold: config.egress!.maxInstances,
        comparison: ComparisonOperator.LESS_THAN_THRESHOLD,
        evaluationPeriods: 5,
        treatMissingData: TreatMissingData.BREACHING,
      });
    }
    if (config.proxies.tlsSecretArn) {
      // Without a certificate no proxy ever passes the NLB's check (synth warns): no alarm then.
      this.alarms.add('proxies-unhealthy', {
        metric: this.proxies.targetGroup.metrics.unHealthyHostCount({ statistic: 'Maximum', period: Duration.minutes(1) }),
        description: 'A proxy fails the NLB health check (HTTPS to gateway proxy) for 3 minutes',
        threshold: 1,
        comparison: ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
        evaluationPeriods: 3,
      });
    }
    this.alarms.addFunction('node-lifecycle', this.lifecycle.function);
    if (this.egressRoutes) this.alarms.addFunction('egress-routes', this.egressRoutes.function);

    new CfnOutput(this, 'ProxyDomain', { value: config.domain, exportName: exportName(config, 'ProxyDomain') });
    new CfnOutput(this, 'LighthouseNames', { value: Fn.join(',', this.lighthouseNames), exportName: exportName(config, 'LighthouseNames') });
    if (this.egress) {
      new CfnOutput(this, 'EgressAddresses', {
        description: "The egress fleet's Elastic IPs: environments' traffic through the egress nodes leaves from these (allowlist them)",
        value: this.egress.joinedAddresses,
        exportName: exportName(config, 'EgressAddresses'),
      });
      new CfnOutput(this, 'EgressSecurityGroupId', {
        description: 'The egress nodes\' security group: admit it on VPC targets (e.g. TCP 5432 on an RDS instance) that environments may reach',
        value: this.egress.securityGroup.securityGroupId,
        exportName: exportName(config, 'EgressSecurityGroupId'),
      });
      new CfnOutput(this, 'EgressFlowLogGroup', {
        description: 'One JSON line per egress flow, one stream per egress instance',
        value: this.egress.flowLogs.logGroupName,
      });
    }
  }
}
