import { CfnOutput, Duration, Stack, type StackProps, Validations } from 'aws-cdk-lib/core';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { type IVpc, SecurityGroup, SubnetType } from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import {
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
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import type { CaKey } from '../constructs/ca-key';
import { exportName } from '../exports';
import { vpcFor } from './network-stack';
import { grantTableAccess } from '../grants';
import { REPO_ROOT } from '../paths';

export const SERVER_PORT = 8080;

export interface ServerStackProps extends StackProps {
  readonly config: GatewayConfig;
  /** The VPC the network stack created; absent when the config imports an existing one. */
  readonly vpc?: IVpc;
  readonly table: ITableV2;
  readonly caKey: CaKey;
}

/**
 * The gateway server on ECS Fargate in the private subnets (`gateway serve --aws`, configured by
 * the environment below): the same API inside the VPC plus the expiry sweep, which runs here in
 * the server's loop. Reachable from the fleets at
 * `http://server.<namespace>:8080` through Cloud Map (private DNS), not a load balancer: one or
 * a few tasks, in-VPC callers only, and ECS keeps the DNS records to healthy tasks.
 */
export class ServerStack extends Stack {
  readonly securityGroup: SecurityGroup;
  readonly endpoint: string;

  constructor(scope: Construct, id: string, props: ServerStackProps) {
    super(scope, id, props);
    const { config, table, caKey } = props;
    const vpc = vpcFor(this, config, props.vpc);

    const cluster = new Cluster(this, 'Cluster', { vpc, containerInsightsV2: ContainerInsights.ENABLED });
    const namespace = new PrivateDnsNamespace(this, 'Namespace', {
      name: `${config.name.toLowerCase()}.internal`,
      vpc,
      description: 'Nebula gateway in-VPC service names',
    });

    const task = new FargateTaskDefinition(this, 'Task', {
      cpu: config.server.cpu,
      memoryLimitMiB: config.server.memoryMiB,
      runtimePlatform: { cpuArchitecture: CpuArchitecture.ARM64, operatingSystemFamily: OperatingSystemFamily.LINUX },
    });
    grantTableAccess(task.taskRole, table, 'readWrite');
    caKey.grantSign(task.taskRole);

    task.addContainer('Server', {
      image: ContainerImage.fromAsset(REPO_ROOT, { file: 'Dockerfile', platform: Platform.LINUX_ARM64 }),
      command: ['serve', '--aws', '--host', '0.0.0.0'],
      portMappings: [{ containerPort: SERVER_PORT }],
      environment: {
        PORT: String(SERVER_PORT),
        TABLE_NAME: table.tableName,
        CERT_LIFETIME_HOURS: String(config.certificateLifetimeHours),
        ...caKey.environment,
      },
      readonlyRootFilesystem: true,
      logging: LogDrivers.awsLogs({
        streamPrefix: 'server',
        logGroup: new LogGroup(this, 'Logs', { retention: config.logRetentionDays as RetentionDays }),
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
    new FargateService(this, 'Service', {
      cluster,
      taskDefinition: task,
      desiredCount: config.server.desiredCount,
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { enable: true, rollback: true },
      vpcSubnets: { subnetType: SubnetType.PRIVATE_WITH_EGRESS },
      assignPublicIp: false,
      securityGroups: [this.securityGroup],
      cloudMapOptions: { name: 'server', cloudMapNamespace: namespace, dnsRecordType: DnsRecordType.A, dnsTtl: Duration.seconds(10) },
    });

    Validations.of(task).acknowledge(
      {
        id: 'AwsSolutions-ECS2',
        reason: 'The environment holds only the port, table name, certificate lifetime and the CA key ARN: no secrets.',
      },
      {
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason: 'The execution role needs ecr:GetAuthorizationToken, which has no resource-level permissions (granted by CDK for the image asset).',
      },
    );

    this.endpoint = `http://server.${namespace.namespaceName}:${SERVER_PORT}`;
    new CfnOutput(this, 'ServerEndpoint', { value: this.endpoint, exportName: exportName(config, 'ServerEndpoint') });
  }
}
