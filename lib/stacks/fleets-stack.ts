import { Annotations, CfnOutput, Duration, Fn, Stack, type StackProps, Tags, Validations } from 'aws-cdk-lib/core';
import { CfnEIP, CfnSecurityGroupIngress, type ISecurityGroup, type IVpc, Peer, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { NetworkLoadBalancer, Protocol } from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { ARecord, type IHostedZone, PublicHostedZone, RecordTarget } from 'aws-cdk-lib/aws-route53';
import { LoadBalancerTarget } from 'aws-cdk-lib/aws-route53-targets';
import type { Construct } from 'constructs';
import { type GatewayConfig, lighthouseName } from '../config';
import { AgentAsset } from '../constructs/agent-asset';
import { FLEET_TAGS, NodeFleet } from '../constructs/node-fleet';
import { exportName } from '../exports';
import { vpcFor } from './network-stack';
import { nagEnvironment } from '../nag';
import { SERVER_PORT } from './server-stack';

export const NEBULA_PORT = 4242;
export const LIGHTHOUSE_EIP_POOL_TAG = 'nebula-gateway:eip-pool';

export interface FleetsStackProps extends StackProps {
  readonly config: GatewayConfig;
  /** The VPC the network stack created; absent when the config imports an existing one. */
  readonly vpc?: IVpc;
  /** The zone the app created (state stack); absent when the config imports one. */
  readonly createdZone?: IHostedZone;
  readonly apiUrl: string;
  readonly registerRouteArn: string;
  readonly serverSecurityGroup: ISecurityGroup;
  /** The gateway server in the VPC (`http://server.<namespace>:8080`): the agents' API after registration. */
  readonly serverEndpoint: string;
}

/**
 * The nebula fleets and their DNS: lighthouses (fixed count, public, UDP 4242, one Elastic IP and
 * one `lighthouse-N.<domain>` A record each, so the names never change when instances do) and
 * proxies (behind an internet-facing NLB passing TCP 443 through, `*.<domain>` aliased to it).
 */
export class FleetsStack extends Stack {
  readonly lighthouseNames: string[];

  constructor(scope: Construct, id: string, props: FleetsStackProps) {
    super(scope, id, props);
    const { config } = props;
    const vpc = vpcFor(this, config, props.vpc);
    const zone: IHostedZone =
      config.hostedZone.mode === 'import'
        ? PublicHostedZone.fromHostedZoneAttributes(this, 'Zone', { hostedZoneId: config.hostedZone.id, zoneName: config.hostedZone.name })
        : props.createdZone!;
    const agent = new AgentAsset(this, 'Agent');

    // Lighthouses: each instance claims a free Elastic IP from this pool at boot, then registers.
    const eips = Array.from({ length: config.lighthouses.count }, (_, i) => {
      const eip = new CfnEIP(this, `LighthouseAddress${i + 1}`, { domain: 'vpc' });
      Tags.of(eip).add(LIGHTHOUSE_EIP_POOL_TAG, `${config.name}-lighthouse`);
      new ARecord(this, `LighthouseRecord${i + 1}`, {
        zone,
        recordName: lighthouseName(config, i + 1),
        target: RecordTarget.fromIpAddresses(eip.ref),
        ttl: Duration.minutes(5),
      });
      return eip;
    });
    this.lighthouseNames = eips.map((_, i) => lighthouseName(config, i + 1));

    const lighthouseSg = new SecurityGroup(this, 'LighthouseSecurityGroup', {
      vpc,
      description: 'nebula lighthouses: UDP 4242 from anywhere',
      allowAllOutbound: true,
    });
    lighthouseSg.addIngressRule(Peer.anyIpv4(), Port.udp(NEBULA_PORT), 'nebula from every node');
    Validations.of(lighthouseSg).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'Lighthouses must answer nebula (UDP 4242 only) from nodes anywhere on the internet.',
    });

    const lighthouses = new NodeFleet(this, 'Lighthouses', {
      config,
      role: 'lighthouse',
      vpc,
      subnets: { subnetType: SubnetType.PUBLIC },
      securityGroup: lighthouseSg,
      instanceType: config.lighthouses.instanceType,
      minCapacity: config.lighthouses.count,
      maxCapacity: config.lighthouses.count,
      publicIp: true,
      apiUrl: props.apiUrl,
      agentApiUrl: props.serverEndpoint,
      registerRouteArn: props.registerRouteArn,
      agent,
      elasticIpAllocationIds: eips.map((eip) => eip.attrAllocationId),
    });
    lighthouses.role.addToPolicy(
      new PolicyStatement({
        actions: ['ec2:AssociateAddress'],
        resources: eips.map((eip) => this.formatArn({ service: 'ec2', resource: 'elastic-ip', resourceName: eip.attrAllocationId })),
      }),
    );
    lighthouses.role.addToPolicy(
      new PolicyStatement({
        actions: ['ec2:AssociateAddress'],
        resources: [this.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
        conditions: { StringEquals: { [`aws:ResourceTag/${FLEET_TAGS.role}`]: 'lighthouse', [`aws:ResourceTag/${FLEET_TAGS.network}`]: config.name } },
      }),
    );
    const env = nagEnvironment(this);
    Validations.of(lighthouses.role).acknowledge({
      id: `AwsSolutions-IAM5[Resource::arn:${env.partition}:ec2:${env.region}:${env.account}:instance/*]`,
      reason: 'Instance ids are not known in advance; the condition limits AssociateAddress to this network\'s lighthouses.',
    });

    // Proxies: private instances behind an internet-facing NLB that passes TCP 443 through.
    const nlbSg = new SecurityGroup(this, 'ProxyLoadBalancerSecurityGroup', { vpc, description: 'proxy NLB: HTTPS from anywhere', allowAllOutbound: false });
    nlbSg.addIngressRule(Peer.anyIpv4(), Port.tcp(443), 'HTTPS from browsers');
    Validations.of(nlbSg).acknowledge({ id: 'AwsSolutions-EC23', reason: 'The proxies serve public HTTPS URLs (TCP 443 only).' });
    const proxySg = new SecurityGroup(this, 'ProxySecurityGroup', { vpc, description: 'proxies: TCP 443 from the NLB only', allowAllOutbound: true });
    proxySg.addIngressRule(nlbSg, Port.tcp(443), 'HTTPS passed through by the NLB');
    nlbSg.addEgressRule(proxySg, Port.tcp(443), 'to the proxies');

    const proxies = new NodeFleet(this, 'Proxies', {
      config,
      role: 'proxy',
      vpc,
      subnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      securityGroup: proxySg,
      instanceType: config.proxies.instanceType,
      minCapacity: config.proxies.min,
      maxCapacity: config.proxies.max,
      publicIp: false,
      apiUrl: props.apiUrl,
      agentApiUrl: props.serverEndpoint,
      registerRouteArn: props.registerRouteArn,
      agent,
      proxy: config.proxies.tlsSecretArn ? { domain: config.domain, tlsSecretArn: config.proxies.tlsSecretArn } : undefined,
    });
    if (!config.proxies.tlsSecretArn) {
      Annotations.of(proxies).addWarningV2(
        'nebula-gateway:no-proxy-certificate',
        'gateway.proxies.tlsSecretArn is not set: the proxies join the mesh but run no `gateway proxy`, so https://*.' +
          `${config.domain} is not served and the NLB health checks fail. Set it to a Secrets Manager secret holding ` +
          '{"certificate": "<PEM chain for *.<domain>>", "privateKey": "<PEM key>"}.',
      );
    }

    const nlb = new NetworkLoadBalancer(this, 'ProxyLoadBalancer', {
      vpc,
      internetFacing: true,
      vpcSubnets: { subnetType: SubnetType.PUBLIC },
      securityGroups: [nlbSg],
      crossZoneEnabled: true,
    });
    nlb.addListener('Https', { port: 443, protocol: Protocol.TCP }).addTargets('Proxies', {
      port: 443,
      protocol: Protocol.TCP,
      targets: [proxies.group],
      // An HTTPS request proves TLS ends and `gateway proxy` answers; it has no route for the
      // target's address, so a live proxy answers 4xx (its own page), never 5xx.
      healthCheck: {
        protocol: Protocol.HTTPS,
        path: '/',
        healthyHttpCodes: '200-499',
        interval: Duration.seconds(10),
        healthyThresholdCount: 2,
        unhealthyThresholdCount: 2,
      },
      deregistrationDelay: Duration.seconds(30),
    });
    Validations.of(nlb).acknowledge({
      id: 'AwsSolutions-ELB2',
      reason: 'NLB access logs cover TLS listeners only; this listener passes TCP through and TLS ends at the proxies.',
    });
    new ARecord(this, 'ProxyWildcardRecord', {
      zone,
      recordName: `*.${config.domain}`,
      target: RecordTarget.fromAlias(new LoadBalancerTarget(nlb)),
    });

    // The server accepts the fleets only; the rules live here so this stack can come and go.
    for (const [name, sg] of [['Lighthouses', lighthouseSg], ['Proxies', proxySg]] as const) {
      new CfnSecurityGroupIngress(this, `ServerFrom${name}`, {
        groupId: props.serverSecurityGroup.securityGroupId,
        sourceSecurityGroupId: sg.securityGroupId,
        ipProtocol: 'tcp',
        fromPort: SERVER_PORT,
        toPort: SERVER_PORT,
        description: `gateway server from the ${name.toLowerCase()}`,
      });
    }

    new CfnOutput(this, 'ProxyDomain', { value: config.domain, exportName: exportName(config, 'ProxyDomain') });
    new CfnOutput(this, 'LighthouseNames', { value: Fn.join(',', this.lighthouseNames), exportName: exportName(config, 'LighthouseNames') });
  }
}
