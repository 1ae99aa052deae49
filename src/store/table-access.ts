import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  BatchWriteCommand,
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
} from '@aws-sdk/lib-dynamodb';
import type { ItemKey } from './keys';
import { cancellationOf, conflicted, pause } from './transactions';

export type Item = Record<string, unknown>;
export type TransactItem = NonNullable<ConstructorParameters<typeof TransactWriteCommand>[0]['TransactItems']>[number];

const MAX_CONFLICT_RETRIES = 8;

/** The one table, through the document client: the few access patterns the repository uses. */
export class TableAccess {
  readonly doc: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    readonly tableName: string,
  ) {
    this.doc = DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
  }

  /** A strongly consistent GetItem. */
  async get(key: ItemKey): Promise<Item | undefined> {
    const result = await this.doc.send(new GetCommand({ TableName: this.tableName, Key: key, ConsistentRead: true }));
    return result.Item;
  }

  /** A Put for a transaction, optionally conditional. */
  put(item: Item, condition?: string): TransactItem {
    return { Put: { TableName: this.tableName, Item: item, ...(condition ? { ConditionExpression: condition } : {}) } };
  }

  /** An `ADD #version :one` on the network's config version item, for a transaction. */
  bumpVersion(key: ItemKey): TransactItem {
    return {
      Update: {
        TableName: this.tableName,
        Key: key,
        UpdateExpression: 'ADD #version :one',
        ExpressionAttributeNames: { '#version': 'version' },
        ExpressionAttributeValues: { ':one': 1 },
      },
    };
  }

  /**
   * TransactWriteItems, retried with jitter while it only collided with another transaction on
   * the same items (TransactionConflict); a failed condition or any other error is thrown.
   */
  async transact(items: TransactItem[]): Promise<void> {
    for (let retry = 0; ; retry++) {
      try {
        await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
        return;
      } catch (err) {
        const c = cancellationOf(err);
        if (!c || !conflicted(c) || retry >= MAX_CONFLICT_RETRIES) throw err;
        await pause(5 + Math.random() * 20 * (retry + 1));
      }
    }
  }

  /** One page of a strongly consistent Query. */
  async queryPage(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const result = await this.doc.send(new QueryCommand({ TableName: this.tableName, ConsistentRead: true, ...input }));
    return result.Items ?? [];
  }

  /** Every page of a strongly consistent Query. */
  async queryAll(input: Omit<QueryCommandInput, 'TableName'>): Promise<Item[]> {
    const items: Item[] = [];
    let start: Item | undefined;
    do {
      const result = await this.doc.send(new QueryCommand({ TableName: this.tableName, ConsistentRead: true, ...input, ExclusiveStartKey: start }));
      items.push(...(result.Items ?? []));
      start = result.LastEvaluatedKey;
    } while (start);
    return items;
  }

  /** BatchWriteItem puts in chunks of 25, retrying unprocessed items. */
  async batchPut(items: Item[]): Promise<void> {
    await this.batchWrite(items.map((Item) => ({ PutRequest: { Item } })));
  }

  async batchDelete(keys: ItemKey[]): Promise<void> {
    await this.batchWrite(keys.map((key) => ({ DeleteRequest: { Key: { pk: key.pk, sk: key.sk } } })));
  }

  private async batchWrite(requests: Item[]): Promise<void> {
    for (let i = 0; i < requests.length; i += 25) {
      let pending: Item[] = requests.slice(i, i + 25);
      for (let round = 0; pending.length > 0; round++) {
        const result = await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.tableName]: pending as never } }));
        pending = (result.UnprocessedItems?.[this.tableName] ?? []) as Item[];
        if (pending.length > 0) await pause(Math.min(1000, 20 * 2 ** round));
      }
    }
  }
}
