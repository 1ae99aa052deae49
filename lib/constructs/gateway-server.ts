import { Duration, Validations } from 'aws-cdk-lib/core';
import { type IVpc, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import {
  AvailabilityZoneRebalancing,
  Cluster,
  ContainerImage,
  ContainerInsights,
  CpuArchitecture,
  FargateService,
  FargateTaskDefinition,
  LogDrivers,
  OperatingSystemFamily,
} from 'aws-cdk-lib/aws-ecs';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { DnsRecordType, PrivateDnsNamespace } from 'aws-cdk-lib/aws-servicediscovery';
import { Construct } from 'constructs';
import { acknowledgeLogGroupRules } from '../guard';
import { REPO_ROOT } from '../paths';
import type { CaKey } from './ca-key';
import type { GatewayTable } from './gateway-table';

/** The port the server container listens on. */
export const SERVER_PORT = 8080;

/** `http://server.<namespace>:8080`: the in-VPC name ECS keeps in Cloud Map (a name, so other stacks need no reference). */
export function serverEndpoint(namespaceName: string): string {
  return `http://server.${namespaceName}:${SERVER_PORT}`;
}

export interface GatewayServerProps {
  /** The VPC whose private subnets run the tasks. */
  readonly vpc: IVpc;
  /** The gateway table; the task role gets item-level read/write on it. */
  readonly table: GatewayTable;
  /** The CA key the server signs certificates with. */
  readonly caKey: CaKey;
  /** Cloud Map private DNS namespace, e.g. `nebulagateway.internal`. */
  readonly namespaceName: string;
  /** Lifetime of the host certificates the server signs, in hours. */
  readonly certificateLifetimeHours: number;
  /** Fargate task CPU units. */
  readonly cpu: number;
  /** Fargate task memory in MiB. */
  readonly memoryMiB: number;
  /** Number of tasks (ECS spreads them across the subnets' AZs and rebalances after an AZ recovers). */
  readonly desiredCount: number;
  /** GATEWAY_WATCH_URL: where the answers tell agents to watch their config (`https://watch.<domain>:8443`). */
  readonly watchUrl: string;
  /** Retention of the container's log group. */
  readonly logRetention: RetentionDays;
  /**
   * Where the server's sweep publishes the CA certificate's days to expiry (the State stack alarms
   * on it): CloudWatch namespace and the `Network` dimension's value. Given to the container as
   * CA_EXPIRY_METRIC_NAMESPACE and CA_EXPIRY_METRIC_NETWORK; the task may put metric data into
   * that namespace only.
   */
  readonly caExpiryMetric: { readonly namespace: string; readonly network: string };
}

/**
 * The gateway server on ECS Fargate in the private subnets (`gateway serve --aws`, configured by
 * the environment below): the same API inside the VPC plus the expiry sweep, which runs here in
 * the server's loop. Reachable in the VPC at `http://server.<namespace>:8080` through Cloud Map
 * (private DNS; ECS keeps the records to healthy tasks), and by environments through the proxies'
 * NLB watch listener once the server stack registers the service in its target group. Its security
 * group admits nobody until a caller adds a rule.
 */
export class GatewayServer extends Construct {
  readonly cluster: Cluster;
  readonly namespace: PrivateDnsNamespace;
  readonly taskDefinition: FargateTaskDefinition;
  readonly securityGroup: SecurityGroup;
  readonly service: FargateService;
  /** `http://server.<namespace>:8080` */
  readonly endpoint: string;

  constructor(scope: Construct, id: string, props: GatewayServerProps) {
    super(scope, id);
    const { vpc, table, caKey } = props;

    this.cluster = new Cluster(this, 'Cluster', { vpc, containerInsightsV2: ContainerInsights.ENABLED });
    this.namespace = new PrivateDnsNamespace(this, 'Namespace', {
      name: props.namespaceName,
      vpc,
      description: 'Nebula gateway in-VPC service names',
    });

    const task = new FargateTaskDefinition(this, 'Task', {
      cpu: props.cpu,
      memoryLimitMiB: props.memoryMiB,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    this.taskDefinition = task;
    table.grantReadWriteItems(task.taskRole);
    caKey.grantSign(task.taskRole);
    // PutMetricData has no resources; the condition keeps the task to its own namespace.
    task.taskRole.addToPrincipalPolicy(
      new PolicyStatement({
        actions: ['cloudwatch:PutMetricData'],
        resources: ['*'],
        conditions: { StringEquals: { 'cloudwatch:namespace': props.caExpiryMetric.namespace } },
      }),
    );

    const logs = new LogGroup(this, 'Logs', { retention: props.logRetention });
    acknowledgeLogGroupRules(logs);
    task.addContainer('Server', {
      // The image's own `node` user (uid 1000), stated here too so the task definition says it is not root.
      user: 'node',
      memoryLimitMiB: props.memoryMiB,
      image: ContainerImage.fromAsset(REPO_ROOT, { file: 'Dockerfile', platform: Platform.LINUX_ARM64 }),
      command: ['serve', '--aws', '--host', '0.0.0.0'],
      portMappings: [{ containerPort: SERVER_PORT }],
      environment: {
        PORT: String(SERVER_PORT),
        TABLE_NAME: table.tableName,
        CERT_LIFETIME_HOURS: String(props.certificateLifetimeHours),
        GATEWAY_WATCH_URL: props.watchUrl,
        CA_EXPIRY_METRIC_NAMESPACE: props.caExpiryMetric.namespace,
        CA_EXPIRY_METRIC_NETWORK: props.caExpiryMetric.network,
        ...caKey.environment,
      },
      readonlyRootFilesystem: true,
      logging: LogDrivers.awsLogs({
        streamPrefix: 'server',
        logGroup: logs,
      }),
      healthCheck: {
        command: ['CMD', 'node', '-e', `fetch('http://127.0.0.1:${SERVER_PORT}/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))`],
        interval: Duration.seconds(15),
        timeout: Duration.seconds(5),
        retries: 3,
        startPeriod: Duration.seconds(30),
      },
    });

    this.securityGroup = new SecurityGroup(this, 'SecurityGroup', {
      vpc,
      description: 'gateway server: ingress only from the fleets (rules added by the fleets stack)',
      allowAllOutbound: true,
    });
    this.service = new FargateService(this, 'Service', {
      cluster: this.cluster,
      taskDefinition: task,
      desiredCount: props.desiredCount,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      availabilityZoneRebalancing: AvailabilityZoneRebalancing.ENABLED,
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      securityGroups: [this.securityGroup],
      cloudMapOptions: { name: 'server', cloudMapNamespace: this.namespace, dnsRecordType: DnsRecordType.A, dnsTtl: Duration.seconds(10) },
    });

    Validations.of(task).acknowledge(
      {
        id: 'AwsSolutions-ECS2',
        reason: 'The environment holds only the port, table name, certificate lifetime, watch URL, metric names and the CA key ARN: no secrets.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'The execution role needs ecr:GetAuthorizationToken and the task role cloudwatch:PutMetricData (limited to its namespace by condition): neither has resource-level permissions.',
      },
    );

    this.endpoint = serverEndpoint(props.namespaceName);
  }
}
