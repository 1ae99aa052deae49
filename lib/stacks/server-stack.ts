import { CfnOutput, Stack, type StackProps } from 'aws-cdk-lib/core';
import type { IVpc } from 'aws-cdk-lib/aws-ec2';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import type { GatewayConfig } from '../config';
import type { CaKey } from '../constructs/ca-key';
import { GatewayServer } from '../constructs/gateway-server';
import type { GatewayTable } from '../constructs/gateway-table';
import { exportName } from '../exports';
import { vpcFor } from './network-stack';

export interface ServerStackProps extends StackProps {
  readonly config: GatewayConfig;
  /** The VPC the network stack created; absent when the config imports an existing one. */
  readonly vpc?: IVpc;
  readonly table: GatewayTable;
  readonly caKey: CaKey;
}

/** The gateway server on ECS Fargate (`GatewayServer`), named in Cloud Map as `server.<name>.internal`. */
export class ServerStack extends Stack {
  readonly server: GatewayServer;

  constructor(scope: Construct, id: string, props: ServerStackProps) {
    super(scope, id, props);
    const { config } = props;

    this.server = new GatewayServer(this, 'Server', {
      vpc: vpcFor(this, config, props.vpc),
      table: props.table,
      caKey: props.caKey,
      namespaceName: `${config.name.toLowerCase()}.internal`,
      certificateLifetimeHours: config.certificateLifetimeHours,
      cpu: config.server.cpu,
      memoryMiB: config.server.memoryMiB,
      desiredCount: config.server.desiredCount,
      logRetention: config.logRetentionDays as RetentionDays,
    });

    new CfnOutput(this, 'ServerEndpoint', { value: this.server.endpoint, exportName: exportName(config, 'ServerEndpoint') });
  }
}
