import { CustomResource, Duration } from 'aws-cdk-lib/core';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { GatewayFunction } from './gateway-function';
import type { GatewayTable } from './gateway-table';

export interface NetworkEgressRoutesProps {
  /** The table holding the network record (written by the State stack's CA custom resource). */
  readonly table: GatewayTable;
  /** The network's egress routes: the VPC CIDR and `gateway.egress.extraCidrs` (config.ts egressRoutes). */
  readonly routes: readonly string[];
  /** Retention of the function's log group. */
  readonly logRetention: RetentionDays;
}

/**
 * The network's egress routes as the configuration says: a custom resource
 * (`Custom::NebulaEgressRoutes`) backed by lambda/egress-routes that writes them into the network
 * record the way `PUT /v1/network/egress-routes` does (validated, with the config version moved),
 * whenever they change; removing it (egress turned off) clears them if still its own. The egress
 * nodes' certificates carry them as `subnets`, environments route them through the egress nodes.
 * The function may read and write the table's items, nothing else.
 */
export class NetworkEgressRoutes extends Construct {
  readonly function: GatewayFunction;
  readonly resource: CustomResource;

  constructor(scope: Construct, id: string, props: NetworkEgressRoutesProps) {
    super(scope, id);
    this.function = new GatewayFunction(this, 'Handler', {
      entry: 'egress-routes',
      description: "Custom resource: sets the network's egress routes (VPC CIDR, extra CIDRs) in the gateway table",
      logRetention: props.logRetention,
      timeout: Duration.minutes(1),
      environment: { TABLE_NAME: props.table.tableName },
    });
    props.table.grantReadWriteItems(this.function.function);
    this.resource = new CustomResource(this, 'Record', {
      serviceToken: this.function.function.functionArn,
      resourceType: 'Custom::NebulaEgressRoutes',
      serviceTimeout: Duration.minutes(3),
      properties: { TableName: props.table.tableName, Routes: [...props.routes] },
    });
    this.resource.node.addDependency(this.function.role);
  }
}
