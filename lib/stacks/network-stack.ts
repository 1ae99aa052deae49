import { Stack, type StackProps, Validations } from 'aws-cdk-lib/core';
import { FlowLogDestination, FlowLogTrafficType, GatewayVpcEndpointAwsService, IpAddresses, type IVpc, SubnetType, Vpc } from 'aws-cdk-lib/aws-ec2';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import { acknowledgeGuardRule, acknowledgeLogGroupRules } from '../guard';

export interface NetworkStackProps extends StackProps {
  readonly config: GatewayConfig;
}

/**
 * The VPC the gateway creates (public + private subnets across the configured AZs, reject flow
 * logs on, a DynamoDB gateway endpoint). Only when the config says `vpc.mode: create`; an existing VPC is imported by
 * attributes in each stack that uses it (`vpcFor`), never looked up.
 */
export class NetworkStack extends Stack {
  readonly vpc: IVpc;

  constructor(scope: Construct, id: string, props: NetworkStackProps) {
    super(scope, id, props);
    const { vpc } = props.config;
    if (vpc.mode !== 'create') throw new Error('NetworkStack creates a VPC; an existing one is imported with vpcFor()');
    const created = new Vpc(this, 'Vpc', {
      ipAddresses: IpAddresses.cidr(vpc.cidr),
      maxAzs: vpc.maxAzs,
      natGateways: vpc.natGateways,
      subnetConfiguration: [
        // Only what asks for a public address gets one (the lighthouses' launch template, the NLB).
        { name: 'public', subnetType: SubnetType.PUBLIC, cidrMask: 24, mapPublicIpOnLaunch: false },
        { name: 'private', subnetType: SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      ],
    });
    const flowLogs = new LogGroup(this, 'FlowLogs', { retention: props.config.logRetentionDays as RetentionDays });
    acknowledgeLogGroupRules(flowLogs);
    created.addFlowLog('FlowLog', { trafficType: FlowLogTrafficType.REJECT, destination: FlowLogDestination.toCloudWatchLogs(flowLogs) });
    // CDK's own handler that empties the default security group (@aws-cdk/aws-ec2:restrictDefaultSecurityGroup).
    const provider = this.node.tryFindChild('Custom::VpcRestrictDefaultSGCustomResourceProvider');
    if (provider) acknowledgeGuardRule(provider, 'lambda_inside_vpc_check', "CDK's custom resource that strips the default security group's rules calls only the EC2 API.");
    // Free, and the server's version polls (4 reads/s per task) and every other table call stay off the NAT gateway.
    created.addGatewayEndpoint('DynamoDb', { service: GatewayVpcEndpointAwsService.DYNAMODB });
    this.vpc = created;
  }
}

/** The created VPC, or the configured existing one imported by attributes into `scope`'s stack. */
export function vpcFor(scope: Construct, config: GatewayConfig, created: IVpc | undefined): IVpc {
  if (created) return created;
  const { vpc } = config;
  if (vpc.mode !== 'import') throw new Error('vpc.mode is create but no NetworkStack VPC was passed');
  const imported = Vpc.fromVpcAttributes(scope, 'ImportedVpc', {
    vpcId: vpc.vpcId,
    vpcCidrBlock: vpc.cidr,
    availabilityZones: vpc.availabilityZones,
    publicSubnetIds: vpc.publicSubnetIds,
    privateSubnetIds: vpc.privateSubnetIds,
  });
  Validations.of(imported).acknowledge({
    id: 'Annotation::@aws-cdk/aws-ec2:noSubnetRouteTableId',
    reason: 'The gateway places instances, tasks and load balancers in imported subnets; it never reads or adds routes.',
  });
  return imported;
}
