import { CfnOutput, Fn, Stack, type StackProps } from 'aws-cdk-lib/core';
import { CfnSecurityGroupIngress, type ISecurityGroup, type IVpc } from 'aws-cdk-lib/aws-ec2';
import { type IHostedZone, PublicHostedZone } from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import { AgentAsset } from '../constructs/agent-asset';
import { SERVER_PORT } from '../constructs/gateway-server';
import { LighthouseFleet } from '../constructs/lighthouse-fleet';
import { ProxyFleet } from '../constructs/proxy-fleet';
import { exportName } from '../exports';
import { vpcFor } from './network-stack';

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
 * The nebula fleets and their DNS: lighthouses (`LighthouseFleet`: fixed count, public, one
 * Elastic IP and `lighthouse-N.<domain>` record each) and proxies (`ProxyFleet`: behind an
 * internet-facing NLB, `*.<domain>` aliased to it), and the server's ingress from both.
 */
export class FleetsStack extends Stack {
  readonly lighthouses: LighthouseFleet;
  readonly proxies: ProxyFleet;
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
    const common = { config, vpc, zone, agent, apiUrl: props.apiUrl, agentApiUrl: props.serverEndpoint, registerRouteArn: props.registerRouteArn };

    this.lighthouses = new LighthouseFleet(this, 'Lighthouses', common);
    this.proxies = new ProxyFleet(this, 'Proxies', common);
    this.lighthouseNames = this.lighthouses.names;

    // The server accepts the fleets only; the rules live here so this stack can come and go.
    for (const [name, sg] of [['Lighthouses', this.lighthouses.securityGroup], ['Proxies', this.proxies.securityGroup]] as const) {
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
