import { CfnOutput, CustomResource, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib/core';
import { AttributeType, Billing, type ITableV2, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { type IPublicHostedZone, PublicHostedZone } from 'aws-cdk-lib/aws-route53';
import type { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../src/store/schema';
import type { GatewayConfig } from '../config';
import { AccessTokenKey, CaKey } from '../constructs/ca-key';
import { GatewayFunction } from '../constructs/gateway-function';
import { exportName } from '../exports';
import { grantTableAccess } from '../grants';

export interface StateStackProps extends StackProps {
  readonly config: GatewayConfig;
}

/**
 * What must outlive every other stack: the table, the CA key, the access token key, the CA
 * certificate and network record (written by a custom resource), and a hosted zone this app created. All retained; the
 * stateless stacks can be destroyed and redeployed around them.
 */
export class StateStack extends Stack {
  readonly table: ITableV2;
  readonly caKey: CaKey;
  /** Signs the proxies' access tokens; never the CA key. */
  readonly accessTokenKey: AccessTokenKey;
  /** Base64 of the raw Ed25519 public key of `accessTokenKey`, read at deploy by the custom resource. */
  readonly accessTokenPublicKey: string;
  /** Lowercase hex SHA-256 of the CA certificate, from the custom resource. */
  readonly caFingerprint: string;
  /** The zone this app created; undefined when the config imports one. */
  readonly hostedZone?: IPublicHostedZone;

  constructor(scope: Construct, id: string, props: StateStackProps) {
    super(scope, id, props);
    const { config } = props;

    const table = new TableV2(this, 'Table', {
      partitionKey: { name: TABLE_SCHEMA.partitionKey.name, type: AttributeType.STRING },
      sortKey: { name: TABLE_SCHEMA.sortKey.name, type: AttributeType.STRING },
      globalSecondaryIndexes: TABLE_SCHEMA.globalSecondaryIndexes.map((index) => ({
        indexName: index.indexName,
        partitionKey: { name: index.partitionKey.name, type: AttributeType.STRING },
        sortKey: { name: index.sortKey.name, type: AttributeType.STRING },
        projectionType: ProjectionType[index.projectionType],
      })),
      billing: Billing.onDemand(),
      timeToLiveAttribute: TABLE_SCHEMA.timeToLiveAttribute,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.table = table;
    this.caKey = new CaKey(this, 'CaKey', { backend: config.caKeyBackend });
    this.accessTokenKey = new AccessTokenKey(this, 'AccessTokenKey', { backend: config.caKeyBackend });

    if (config.hostedZone.mode === 'create') {
      const zone = new PublicHostedZone(this, 'HostedZone', { zoneName: config.domain });
      zone.applyRemovalPolicy(RemovalPolicy.RETAIN);
      this.hostedZone = zone;
    }

    const caInit = new GatewayFunction(this, 'CaInit', {
      entry: 'ca-init',
      description: 'Custom resource: creates the Nebula CA certificate, records the network, reads the access token public key',
      logRetention: config.logRetentionDays as RetentionDays,
      timeout: Duration.minutes(2),
      environment: { TABLE_NAME: table.tableName, ...this.caKey.environment, ...this.accessTokenKey.environment },
    });
    grantTableAccess(caInit.function, table, 'readWrite');
    this.caKey.grantSign(caInit.function);
    // The public key travels to the open functions as an attribute, so none of them needs the key.
    this.accessTokenKey.grantPublicKey(caInit.function);

    const caRecord = new CustomResource(this, 'CaRecord', {
      serviceToken: caInit.function.functionArn,
      resourceType: 'Custom::NebulaCa',
      properties: {
        TableName: table.tableName,
        OverlayCidr: config.overlayCidr,
        CaName: `${config.name} CA`,
        CaLifetimeDays: config.caLifetimeDays,
        AccessTokenKeyArn: this.accessTokenKey.arn,
      },
    });
    caRecord.node.addDependency(caInit.function.role!);
    this.caFingerprint = caRecord.getAttString('Fingerprint');
    this.accessTokenPublicKey = caRecord.getAttString('AccessTokenPublicKey');

    new CfnOutput(this, 'TableName', { value: table.tableName, exportName: exportName(config, 'TableName') });
    new CfnOutput(this, 'OverlayCidr', { value: config.overlayCidr, exportName: exportName(config, 'OverlayCidr') });
    new CfnOutput(this, 'CaFingerprint', { value: this.caFingerprint, exportName: exportName(config, 'CaFingerprint') });
  }
}
