import { RemovalPolicy } from 'aws-cdk-lib/core';
import { AttributeType, Billing, ProjectionType, TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { TABLE_SCHEMA } from '../../src/store/schema';

const READ = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];
const WRITE = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem'];

export interface GatewayTableProps {
  /**
   * What happens to the table when it leaves the stack.
   * @default RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE: kept, except when its own create rolls back
   * (then it holds nothing, and keeping it would block the retry with a name clash)
   */
  readonly removalPolicy?: RemovalPolicy;
}

/**
 * The gateway's one DynamoDB table, shaped by `TABLE_SCHEMA` (src/store/schema.ts): on-demand,
 * point-in-time recovery, deletion protection, TTL. Its grants are item-level on the table and its
 * named indexes only: no Scan, no table management, no `index/*` wildcard (what
 * `grantReadWriteData` would add).
 */
export class GatewayTable extends Construct {
  readonly table: TableV2;

  constructor(scope: Construct, id: string, props: GatewayTableProps = {}) {
    super(scope, id);
    // `Default`: the table keeps the logical ID it had when the stack created it directly.
    this.table = new TableV2(this, 'Default', {
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
      removalPolicy: props.removalPolicy ?? RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE,
    });
  }

  get tableName(): string {
    return this.table.tableName;
  }

  /** GetItem, BatchGetItem, Query on the table and its named indexes. */
  grantReadItems(grantee: IGrantable): void {
    this.grant(grantee, READ);
  }

  /** The reads plus PutItem, UpdateItem, DeleteItem, BatchWriteItem, ConditionCheckItem. */
  grantReadWriteItems(grantee: IGrantable): void {
    this.grant(grantee, [...READ, ...WRITE]);
  }

  private grant(grantee: IGrantable, actions: string[]): void {
    const arn = this.table.tableArn;
    grantee.grantPrincipal.addToPrincipalPolicy(
      new PolicyStatement({ actions, resources: [arn, ...TABLE_SCHEMA.globalSecondaryIndexes.map((index) => `${arn}/index/${index.indexName}`)] }),
    );
  }
}
