/**
 * The one DynamoDB table's key schema, shared by the repository, the CDK stack (`lib/`) and the
 * tests so that they can never disagree. Plain values: nothing here imports aws-cdk-lib.
 */
export const TABLE_SCHEMA = {
  partitionKey: { name: 'pk', type: 'S' },
  sortKey: { name: 'sk', type: 'S' },
  /** Epoch seconds; DynamoDB deletes expired tokens and revocations by itself. */
  timeToLiveAttribute: 'ttl',
  globalSecondaryIndexes: [
    {
      indexName: 'gsi1',
      partitionKey: { name: 'gsi1pk', type: 'S' },
      sortKey: { name: 'gsi1sk', type: 'S' },
      /** Host listings read whole host items from the index. */
      projectionType: 'ALL',
    },
  ],
  /** On-demand capacity: dev networks are bursty (many enrollments at once, then quiet). */
  billingMode: 'PAY_PER_REQUEST',
} as const;
