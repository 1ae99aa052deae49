import { Stack, Token } from 'aws-cdk-lib/core';
import type { IConstruct } from 'constructs';

/**
 * How cdk-nag spells the partition, account and region inside finding ids (e.g.
 * `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-...-<AWS::AccountId>-<AWS::Region>/*]`):
 * placeholders in an environment-agnostic stack, literal values when the environment is set.
 */
export function nagEnvironment(scope: IConstruct): { partition: string; account: string; region: string } {
  const stack = Stack.of(scope);
  return {
    partition: Token.isUnresolved(stack.partition) ? '<AWS::Partition>' : stack.partition,
    account: Token.isUnresolved(stack.account) ? '<AWS::AccountId>' : stack.account,
    region: Token.isUnresolved(stack.region) ? '<AWS::Region>' : stack.region,
  };
}
