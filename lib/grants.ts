import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { type IGrantable, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { TABLE_SCHEMA } from '../src/store/schema';

const READ = ['dynamodb:GetItem', 'dynamodb:BatchGetItem', 'dynamodb:Query'];
const WRITE = ['dynamodb:PutItem', 'dynamodb:UpdateItem', 'dynamodb:DeleteItem', 'dynamodb:BatchWriteItem', 'dynamodb:ConditionCheckItem'];

/**
 * Item-level access to the table and its named indexes only: no Scan, no table management, no
 * `index/*` wildcard (what `grantReadWriteData` would add).
 */
export function grantTableAccess(grantee: IGrantable, table: ITableV2, access: 'read' | 'readWrite'): void {
  grantee.grantPrincipal.addToPrincipalPolicy(
    new PolicyStatement({
      actions: access === 'read' ? READ : [...READ, ...WRITE],
      resources: [table.tableArn, ...TABLE_SCHEMA.globalSecondaryIndexes.map((index) => `${table.tableArn}/index/${index.indexName}`)],
    }),
  );
}
