import { Duration, Stack, Tags, Validations } from 'aws-cdk-lib/core';
import {
  AdditionalHealthCheckType,
  AutoScalingGroup,
  CfnAutoScalingGroup,
  DefaultResult,
  GroupMetric,
  GroupMetrics,
  HealthChecks,
  LifecycleTransition,
  Signals,
  UpdatePolicy,
} from 'aws-cdk-lib/aws-autoscaling';
import {
  AmazonLinuxCpuType,
  BlockDeviceVolume,
  EbsDeviceVolumeType,
  InstanceType,
  type ISecurityGroup,
  type IVpc,
  LaunchTemplate,
  MachineImage,
  type SubnetSelection,
  UserData,
} from 'aws-cdk-lib/aws-ec2';
import { ManagedPolicy, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { acknowledgeGuardRule } from '../guard';
import { type FleetRole, fleetRoleName, type GatewayConfig } from '../config';
import type { AgentAsset } from './agent-asset';
import { renderEgressBootstrap } from './egress-bootstrap';
import { AGENT_DIR, AGENT_STATE_DIR, AGENT_UNIT, type ProxyBootstrapInput, renderNodeBootstrap } from './node-bootstrap';

/** Tags the register function checks (src/api/ec2-node-verifier.ts) before it signs for an instance. */
export const FLEET_TAGS = {
  network: 'nebula-gateway:network',
  role: 'nebula-gateway:role',
} as const;

export const NEBULA_VERSION = '1.6.1';

export interface NodeFleetProps {
  /** The gateway configuration (network name for the role name and tags). */
  readonly config: GatewayConfig;
  /** Which nebula role the instances play. */
  readonly role: FleetRole;
  /** The VPC the instances run in. */
  readonly vpc: IVpc;
  /** The subnets the instances run in. */
  readonly subnets: SubnetSelection;
  /** The instances' security group. */
  readonly securityGroup: ISecurityGroup;
  /** EC2 instance type; a Graviton type gets the arm64 image and binaries. */
  readonly instanceType: string;
  /** Minimum number of instances. */
  readonly minCapacity: number;
  /** Maximum number of instances. */
  readonly maxCapacity: number;
  /** Whether the instances get a public IPv4 address. */
  readonly publicIp: boolean;
  /** The API Gateway URL the agent registers through. */
  readonly apiUrl: string;
  /** The in-VPC gateway server the agent uses after registering. */
  readonly agentApiUrl: string;
  /** execute-api ARN of `POST /v1/nodes/register`, the only route the instance role may call. */
  readonly registerRouteArn: string;
  /** The agent bundle the instances download at boot. */
  readonly agent: AgentAsset;
  /**
   * Elastic IPs an instance claims one of at boot (lighthouses).
   * @default none: the instance keeps the address it launched with
   */
  readonly elasticIpAllocationIds?: readonly string[];
  /**
   * Proxies: run `gateway proxy` with the certificate in this secret (the role may read exactly it).
   * @default no `gateway proxy`
   */
  readonly proxy?: ProxyBootstrapInput;
  /**
   * Egress nodes: route the environments' traffic and run `gateway egress run` (egress-bootstrap.ts),
   * its flow log shipped to this CloudWatch Logs group. The grants are the egress fleet's.
   * @default not a router
   */
  readonly egress?: { readonly flowLogGroupName: string };
  /**
   * Replace instances that the load balancer finds unhealthy (ELB health checks, with a grace
   * period for the boot script), not only those EC2 finds impaired.
   * @default EC2 checks only
   */
  readonly elbHealthChecks?: boolean;
}

/** How long a boot may take before health checks count: packages, downloads, registration, first config. */
export const BOOT_GRACE_PERIOD = Duration.minutes(10);
/** How long a terminating instance waits for the node-lifecycle function (it completes the action itself). */
export const TERMINATION_HOOK_HEARTBEAT = Duration.seconds(120);

/**
 * An auto scaling group of nebula nodes (lighthouses, proxies or egress nodes) from a launch template: IMDSv2
 * only, Amazon Linux 2023 for the instance type's CPU, a fixed-name role (the register function
 * checks the caller's role name), rolling updates that wait for each new instance to register.
 */
export class NodeFleet extends Construct {
  readonly group: AutoScalingGroup;
  readonly role: Role;
  readonly launchTemplate: LaunchTemplate;

  constructor(scope: Construct, id: string, props: NodeFleetProps) {
    super(scope, id);
    const stack = Stack.of(this);
    const arm = isGravitonType(props.instanceType);

    this.role = new Role(this, 'Role', {
      roleName: fleetRoleName(props.config, stack.region, props.role),
      assumedBy: new ServicePrincipal('ec2.amazonaws.com'),
      description: `Nebula gateway ${props.role} instances`,
      managedPolicies: [ManagedPolicy.fromAwsManagedPolicyName('AmazonSSMManagedInstanceCore')],
    });
    this.role.addToPolicy(new PolicyStatement({ actions: ['execute-api:Invoke'], resources: [props.registerRouteArn] }));
    // The agent bundle only: one object of the CDK asset bucket, which holds every app's assets.
    this.role.addToPolicy(new PolicyStatement({ actions: ['s3:GetObject'], resources: [props.agent.objectArn] }));
    if (props.proxy) {
      this.role.addToPolicy(new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [props.proxy.tlsSecretArn] }));
    }
    Validations.of(this.role).acknowledge(
      {
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/AmazonSSMManagedInstanceCore]',
        reason: 'Session Manager is the only way in (no SSH key, no open SSH port).',
      },
    );

    const userData = UserData.forLinux();
    const template = new LaunchTemplate(this, 'LaunchTemplate', {
      instanceType: new InstanceType(props.instanceType),
      machineImage: MachineImage.latestAmazonLinux2023({ cpuType: arm ? AmazonLinuxCpuType.ARM_64 : AmazonLinuxCpuType.X86_64 }),
      role: this.role,
      securityGroup: props.securityGroup,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      associatePublicIpAddress: props.publicIp,
      blockDevices: [
        { deviceName: '/dev/xvda', volume: BlockDeviceVolume.ebs(8, { encrypted: true, volumeType: EbsDeviceVolumeType.GP3 }) },
      ],
      userData,
    });
    this.launchTemplate = template;
    acknowledgeGuardRule(
      template,
      'ec2_launch_template_monitoring_enabled_check',
      "Basic (5-minute) EC2 monitoring: the alarms watch the group's in-service count and the NLB's health checks, not instance metrics.",
    );

    this.group = new AutoScalingGroup(this, 'Group', {
      vpc: props.vpc,
      vpcSubnets: props.subnets,
      launchTemplate: template,
      minCapacity: props.minCapacity,
      maxCapacity: props.maxCapacity,
      healthChecks: props.elbHealthChecks
        ? HealthChecks.withAdditionalChecks({ additionalTypes: [AdditionalHealthCheckType.ELB], gracePeriod: BOOT_GRACE_PERIOD })
        : HealthChecks.ec2({ gracePeriod: BOOT_GRACE_PERIOD }),
      // GroupInServiceInstances: the fleets stack alarms on it.
      groupMetrics: [new GroupMetrics(GroupMetric.IN_SERVICE_INSTANCES)],
      signals: Signals.waitForMinCapacity({ timeout: Duration.minutes(15) }),
      updatePolicy: UpdatePolicy.rollingUpdate({
        maxBatchSize: 1,
        minInstancesInService: Math.max(0, props.minCapacity - 1),
        waitOnResourceSignals: true,
        pauseTime: Duration.minutes(15),
      }),
    });
    // The node-lifecycle function revokes the host and completes the action (EventBridge rule in the fleets stack).
    this.group.addLifecycleHook('Terminating', {
      lifecycleTransition: LifecycleTransition.INSTANCE_TERMINATING,
      heartbeatTimeout: TERMINATION_HOOK_HEARTBEAT,
      defaultResult: DefaultResult.CONTINUE,
    });
    Tags.of(this.group).add(FLEET_TAGS.network, props.config.name, { applyToLaunchedInstances: true });
    Tags.of(this.group).add(FLEET_TAGS.role, props.role, { applyToLaunchedInstances: true });
    this.group.addUserData(
      ...renderNodeBootstrap({
        role: props.role,
        region: stack.region,
        apiUrl: props.apiUrl,
        agentApiUrl: props.agentApiUrl,
        nebulaVersion: NEBULA_VERSION,
        cpu: arm ? 'arm64' : 'amd64',
        agentS3Url: props.agent.asset.s3ObjectUrl,
        elasticIpAllocationIds: props.elasticIpAllocationIds,
        proxy: props.proxy,
        signal: { stackName: stack.stackName, resource: stack.getLogicalId(this.group.node.defaultChild as CfnAutoScalingGroup) },
      }),
      ...(props.egress
        ? renderEgressBootstrap({
            region: stack.region,
            flowLogGroupName: props.egress.flowLogGroupName,
            agentStateDir: AGENT_STATE_DIR,
            agentDir: AGENT_DIR,
            agentUnit: AGENT_UNIT,
          })
        : []),
    );
    if (!props.elbHealthChecks) {
      acknowledgeGuardRule(
        this.group,
        'autoscaling_group_elb_healthcheck_required_check',
        'Proxies without a TLS certificate run no `gateway proxy`: the NLB check can never pass, and ELB health checks would replace them forever.',
      );
    }
    acknowledgeGuardRule(
      this.group,
      'autoscaling_multiple_az_check',
      'The group spans one subnet in each of at least two Availability Zones (VPCZoneIdentifier); the rule reads only AvailabilityZones.',
    );
    acknowledgeGuardRule(
      this.group,
      'autoscaling_mixed_instances_policy_multiple_instance_types_check',
      'One small Graviton type per fleet (configurable); a handful of instances do not need a mixed instances policy.',
    );
    Validations.of(this.group).acknowledge({
      id: 'AwsSolutions-AS3',
      reason: 'Scaling notifications are left to the operator; rolling updates wait for cfn-signal from each registered instance.',
    });
  }
}

/** Graviton instance families carry a `g` after the generation digit: t4g, m7g, c7gn, r8g... */
export function isGravitonType(instanceType: string): boolean {
  return /^[a-z]+\d+g[a-z]*\./.test(instanceType);
}
