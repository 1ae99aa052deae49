import { Duration, Validations } from 'aws-cdk-lib/core';
import { type CfnEIP, type IVpc, Peer, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { ARecord, type IHostedZone, RecordTarget } from 'aws-cdk-lib/aws-route53';
import { Construct } from 'constructs';
import { type GatewayConfig, lighthouseName } from '../config';
import { acknowledgeGuardRule } from '../guard';
import { addressPool, grantAssociateOwnAddress } from './address-pool';
import type { AgentAsset } from './agent-asset';
import { NodeFleet } from './node-fleet';

/** The nebula underlay port the lighthouses answer on. */
export const NEBULA_PORT = 4242;

export interface LighthouseFleetProps {
  /** The gateway configuration (name, domain, `lighthouses.count` and `instanceType`). */
  readonly config: GatewayConfig;
  /** The VPC whose public subnets run the lighthouses. */
  readonly vpc: IVpc;
  /** The zone that gets one `lighthouse-N.<domain>` A record per Elastic IP. */
  readonly zone: IHostedZone;
  /** The agent bundle the instances download at boot. */
  readonly agent: AgentAsset;
  /** The API Gateway URL the agent registers through. */
  readonly apiUrl: string;
  /** The in-VPC gateway server the agent uses after registering. */
  readonly agentApiUrl: string;
  /** execute-api ARN of `POST /v1/nodes/register`. */
  readonly registerRouteArn: string;
}

/**
 * The lighthouses: a fixed-size public fleet answering UDP 4242 from anywhere, and a pool of
 * Elastic IPs (one per lighthouse, each with a `lighthouse-N.<domain>` A record) that each
 * instance claims at boot, so the names never change when instances do. The instance role may
 * associate exactly these addresses, with this network's lighthouses only.
 */
export class LighthouseFleet extends Construct {
  readonly fleet: NodeFleet;
  readonly securityGroup: SecurityGroup;
  readonly addresses: CfnEIP[];
  readonly records: ARecord[];
  /** `lighthouse-N.<domain>`, in address order. */
  readonly names: string[];

  constructor(scope: Construct, id: string, props: LighthouseFleetProps) {
    super(scope, id);
    const { config } = props;
    const count = config.lighthouses.count;

    this.names = Array.from({ length: count }, (_, i) => lighthouseName(config, i + 1));
    this.addresses = addressPool(this, count, `${config.name}-lighthouse`);
    this.records = this.names.map(
      (name, i) =>
        new ARecord(this, `Record${i + 1}`, {
          zone: props.zone,
          recordName: name,
          target: RecordTarget.fromIpAddresses(this.addresses[i].ref),
          ttl: Duration.minutes(5),
        }),
    );

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'nebula lighthouses: UDP 4242 from anywhere',
      allowAllOutbound: true,
    });
    this.securityGroup.addIngressRule(Peer.anyIpv4(), Port.udp(NEBULA_PORT), 'nebula from every node');
    Validations.of(this.securityGroup).acknowledge({
      id: 'AwsSolutions-EC23',
      reason: 'Lighthouses must answer nebula (UDP 4242 only) from nodes anywhere on the internet.',
    });
    acknowledgeGuardRule(this.securityGroup, 'vpc_sg_open_only_to_authorized_ports_check', 'Lighthouses must answer nebula (UDP 4242 only) from nodes anywhere on the internet.');

    // `Default`: the fleet keeps the logical IDs it had at the stack's top level (its role has a fixed name).
    this.fleet = new NodeFleet(this, 'Default', {
      config,
      role: 'lighthouse',
      vpc: props.vpc,
      subnets: { subnetType: SubnetType.PUBLIC },
      securityGroup: this.securityGroup,
      instanceType: config.lighthouses.instanceType,
      minCapacity: count,
      maxCapacity: count,
      publicIp: true,
      apiUrl: props.apiUrl,
      agentApiUrl: props.agentApiUrl,
      registerRouteArn: props.registerRouteArn,
      agent: props.agent,
      elasticIpAllocationIds: this.addresses.map((eip) => eip.attrAllocationId),
    });
    acknowledgeGuardRule(
      this.fleet.launchTemplate,
      'ec2_launch_template_public_ip_disabled_check',
      'A lighthouse needs a public address until it claims its Elastic IP (it downloads nebula and registers first).',
    );

    grantAssociateOwnAddress(this.fleet.role, { addresses: this.addresses, network: config.name, fleetRole: 'lighthouse' });
  }
}
