import { CustomResource, Duration } from 'aws-cdk-lib/core';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AccessTokenKey, CaKey } from './ca-key';
import { GatewayFunction } from './gateway-function';
import type { GatewayTable } from './gateway-table';

/** The function's own limit; the resource gives up a little after it. */
export const CA_FUNCTION_TIMEOUT = Duration.minutes(2);
export const CA_RESOURCE_TIMEOUT = Duration.minutes(5);

export interface NetworkCaProps {
  /** The table the network record and CA certificate are written to. */
  readonly table: GatewayTable;
  /** The key that signs the CA certificate. */
  readonly caKey: CaKey;
  /** The key whose public key is read at deploy and exposed as `accessTokenPublicKey`. */
  readonly accessTokenKey: AccessTokenKey;
  /** The nebula overlay network (CIDR), recorded with the CA. */
  readonly overlayCidr: string;
  /** The CA certificate's name, e.g. `NebulaGateway CA`. */
  readonly caName: string;
  /** The CA certificate's lifetime in days. */
  readonly caLifetimeDays: number;
  /** Retention of the ca-init function's log group. */
  readonly logRetention: RetentionDays;
}

/**
 * The network's CA: a custom resource (`Custom::NebulaCa`) backed by lambda/ca-init that creates
 * the CA certificate and network record once (later deploys find them, and refuse a changed CA
 * name, lifetime or overlay CIDR instead of ignoring it), and reads the access token public key. The function may write the table, sign with the CA key, and read the token key's
 * public key only.
 */
export class NetworkCa extends Construct {
  readonly function: GatewayFunction;
  readonly resource: CustomResource;
  /** Lowercase hex SHA-256 of the CA certificate. */
  readonly fingerprint: string;
  /** Base64 of the raw Ed25519 public key of the access token key. */
  readonly accessTokenPublicKey: string;

  constructor(scope: Construct, id: string, props: NetworkCaProps) {
    super(scope, id);
    const { table, caKey, accessTokenKey } = props;

    this.function = new GatewayFunction(this, 'Init', {
      entry: 'ca-init',
      description: 'Custom resource: creates the Nebula CA certificate, records the network, reads the access token public key',
      logRetention: props.logRetention,
      timeout: CA_FUNCTION_TIMEOUT,
      environment: { TABLE_NAME: table.tableName, ...caKey.environment, ...accessTokenKey.environment },
    });
    table.grantReadWriteItems(this.function.function);
    caKey.grantSign(this.function.function);
    // The public key travels to the open functions as an attribute, so none of them needs the key.
    accessTokenKey.grantPublicKey(this.function.function);

    this.resource = new CustomResource(this, 'Record', {
      serviceToken: this.function.function.functionArn,
      resourceType: 'Custom::NebulaCa',
      // If the function never answers (crash before responding), fail after this instead of CloudFormation's hour.
      serviceTimeout: CA_RESOURCE_TIMEOUT,
      properties: {
        TableName: table.tableName,
        OverlayCidr: props.overlayCidr,
        CaName: props.caName,
        CaLifetimeDays: props.caLifetimeDays,
        AccessTokenKeyArn: accessTokenKey.arn,
      },
    });
    this.resource.node.addDependency(this.function.role);
    this.fingerprint = this.resource.getAttString('Fingerprint');
    this.accessTokenPublicKey = this.resource.getAttString('AccessTokenPublicKey');
  }
}
