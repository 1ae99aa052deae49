import { Fn, Validations } from 'aws-cdk-lib/core';
import { type CfnEIP, type IVpc, Peer, Port, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { EGRESS_DEFAULTS, type GatewayConfig } from '../config';
import { acknowledgeGuardRule, acknowledgeLogGroupRules } from '../guard';
import { addressPool, grantAssociateOwnAddress } from './address-pool';
import type { AgentAsset } from './agent-asset';
import { NEBULA_PORT } from './lighthouse-fleet';
import { NodeFleet } from './node-fleet';

/** `<name>-egress`: the pool tag value of the egress addresses. */
export function egressPoolTagValue(config: Pick<GatewayConfig, 'name'>): string {
  return `${config.name}-egress`;
}

export interface EgressFleetProps {
  /** The gateway configuration (name for the role, tags and pool; `logRetentionDays`). */
  readonly config: GatewayConfig;
  /** The VPC whose public subnets run the egress nodes; its CIDR is reachable through them. */
  readonly vpc: IVpc;
  /** The agent bundle the instances download at boot. */
  readonly agent: AgentAsset;
  /** The API Gateway URL the agent registers through. */
  readonly apiUrl: string;
  /** The in-VPC gateway server the agent (and `gateway egress run`) uses after registering. */
  readonly agentApiUrl: string;
  /** execute-api ARN of `POST /v1/nodes/register`. */
  readonly registerRouteArn: string;
  /**
   * Elastic IPs in the pool, and the group's size: one address per instance, never more
   * instances than addresses, so every outbound packet leaves from one of the exported addresses.
   * @default 2 (`gateway.egress.maxInstances`)
   */
  readonly maxInstances?: number;
  /**
   * EC2 instance type; a Graviton type gets the arm64 image and binaries.
   * @default t4g.small (`gateway.egress.instanceType`)
   */
  readonly instanceType?: string;
  /** Retention of the flow log group. */
  readonly logRetention: RetentionDays;
}

/**
 * The egress nodes: a public fleet that carries the environments' outbound traffic (nebula
 * `unsafe_routes` to the network's egress routes, then nftables forwarding and masquerade on the
 * node), so that it leaves from a small, fixed set of Elastic IPs customers can allowlist and
 * reaches the VPC (an RDS database) from the nodes' own security group. Each instance claims a free
 * address of the pool at boot (as lighthouses do), turns its source/destination check off, and
 * registers as `egress`; `gateway egress run` writes a JSON line per flow, shipped to `flowLogs`.
 *
 * The role may associate exactly the pool's addresses, and only with, and change attributes of,
 * this network's egress nodes (fleet tags; `grantAssociateOwnAddress`: IAM documents no condition
 * key that would narrow this to the calling instance itself).
 *
 * Security group: nebula (UDP 4242) from anywhere, like the lighthouses (environments punch
 * through to it directly); all outbound, so the VPC and the internet are reachable. A target in
 * the VPC admits `securityGroup` in its own rules (an RDS instance: TCP 5432 from it).
 */
export class EgressFleet extends Construct {
  readonly fleet: NodeFleet;
  readonly securityGroup: SecurityGroup;
  readonly addresses: CfnEIP[];
  readonly flowLogs: LogGroup;

  constructor(scope: Construct, id: string, props: EgressFleetProps) {
    super(scope, id);
    const { config } = props;
    const count = props.maxInstances ?? EGRESS_DEFAULTS.maxInstances;

    this.addresses = addressPool(this, count, egressPoolTagValue(config));

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc: props.vpc,
      description: 'nebula egress nodes: UDP 4242 from anywhere; all outbound (VPC targets admit this group)',
      allowAllOutbound: true,
    });
    this.securityGroup.addIngressRule(Peer.anyIpv4(), Port.udp(NEBULA_PORT), 'nebula from every node');
    const openPort = 'Egress nodes must answer nebula (UDP 4242 only) from environments anywhere on the internet.';
    Validations.of(this.securityGroup).acknowledge({ id: 'AwsSolutions-EC23', reason: openPort });
    acknowledgeGuardRule(this.securityGroup, 'vpc_sg_open_only_to_authorized_ports_check', openPort);

    this.flowLogs = new LogGroup(this, 'FlowLogs', { retention: props.logRetention });
    acknowledgeLogGroupRules(this.flowLogs);

    // `Default`: the fleet's logical IDs stay those of a top-level NodeFleet (as the other fleets').
    this.fleet = new NodeFleet(this, 'Default', {
      config,
      role: 'egress',
      vpc: props.vpc,
      subnets: { subnetType: SubnetType.PUBLIC },
      securityGroup: this.securityGroup,
      instanceType: props.instanceType ?? EGRESS_DEFAULTS.instanceType,
      minCapacity: count,
      maxCapacity: count,
      publicIp: true,
      apiUrl: props.apiUrl,
      agentApiUrl: props.agentApiUrl,
      registerRouteArn: props.registerRouteArn,
      agent: props.agent,
      elasticIpAllocationIds: this.addresses.map((eip) => eip.attrAllocationId),
      egress: { flowLogGroupName: this.flowLogs.logGroupName },
    });
    acknowledgeGuardRule(
      this.fleet.launchTemplate,
      'ec2_launch_template_public_ip_disabled_check',
      'An egress node needs a public address until it claims its Elastic IP (it downloads nebula and registers first).',
    );

    const role = this.fleet.role;
    // ModifyInstanceAttribute: the boot script turns the node's own source/destination check off.
    grantAssociateOwnAddress(role, {
      addresses: this.addresses,
      network: config.name,
      fleetRole: 'egress',
      instanceActions: ['ec2:ModifyInstanceAttribute'],
    });
    this.flowLogs.grantWrite(role);
    role.addToPolicy(new PolicyStatement({ actions: ['logs:DescribeLogStreams'], resources: [this.flowLogs.logGroupArn] }));
  }

  /** The addresses, comma-separated in pool order (the `EgressAddresses` output). */
  get joinedAddresses(): string {
    return Fn.join(',', this.addresses.map((eip) => eip.ref));
  }
}
