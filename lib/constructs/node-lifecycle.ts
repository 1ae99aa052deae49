import { ArnFormat, type CfnResource, Stack, Validations } from 'aws-cdk-lib/core';
import type { AutoScalingGroup } from 'aws-cdk-lib/aws-autoscaling';
import { Rule } from 'aws-cdk-lib/aws-events';
import { LambdaFunction } from 'aws-cdk-lib/aws-events-targets';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { nagEnvironment } from '../nag';
import { GatewayFunction } from './gateway-function';
import type { GatewayTable } from './gateway-table';

export interface NodeLifecycleProps {
  /** The fleets' groups; each carries a termination lifecycle hook (NodeFleet). */
  readonly groups: readonly AutoScalingGroup[];
  /** The gateway table: the function revokes the terminating instance's host (read/write items). */
  readonly table: GatewayTable;
  /** The variables node-register gets (TABLE_NAME, CERT_LIFETIME_HOURS, fleet role names and tags), by the same names. */
  readonly environment: Record<string, string>;
  readonly logRetention: RetentionDays;
}

/**
 * When a fleet's group terminates an instance (scale-in, rolling update, health replacement), an
 * EventBridge rule for the group's "EC2 Instance-terminate Lifecycle Action" invokes
 * lambda/node-lifecycle.ts, which revokes the instance's host (a lighthouse leaves every config)
 * and completes the lifecycle action; the hook's default result (CONTINUE) lets the termination
 * go on if it cannot. The function may complete actions on these groups only: they are named by
 * their `Ref` in this stack, so no fixed group names are needed.
 */
export class NodeLifecycle extends Construct {
  readonly function: GatewayFunction;
  readonly rule: Rule;

  constructor(scope: Construct, id: string, props: NodeLifecycleProps) {
    super(scope, id);
    const stack = Stack.of(this);
    this.function = new GatewayFunction(this, 'Handler', {
      entry: 'node-lifecycle',
      description: 'Fleet instance terminating: revokes its host, completes the lifecycle action',
      logRetention: props.logRetention,
      environment: props.environment,
    });
    props.table.grantReadWriteItems(this.function.function);
    const names = props.groups.map((group) => group.autoScalingGroupName);
    this.function.function.addToRolePolicy(
      new PolicyStatement({
        actions: ['autoscaling:CompleteLifecycleAction'],
        resources: names.map((name) =>
          stack.formatArn({
            service: 'autoscaling',
            resource: 'autoScalingGroup',
            resourceName: `*:autoScalingGroupName/${name}`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          }),
        ),
      }),
    );
    const env = nagEnvironment(this);
    Validations.of(this.function.role).acknowledge(
      ...props.groups.map((group) => ({
        id: `AwsSolutions-IAM5[Resource::arn:${env.partition}:autoscaling:${env.region}:${env.account}:autoScalingGroup:*:autoScalingGroupName/<${stack.getLogicalId(group.node.defaultChild as CfnResource)}>]`,
        reason: "An Auto Scaling group's ARN carries a generated id; the group's name (its Ref) pins it to this fleet.",
      })),
    );
    this.rule = new Rule(this, 'Terminating', {
      description: 'Fleet instance terminating: revoke its host (node-lifecycle)',
      eventPattern: {
        source: ['aws.autoscaling'],
        detailType: ['EC2 Instance-terminate Lifecycle Action'],
        detail: { AutoScalingGroupName: names },
      },
      targets: [new LambdaFunction(this.function.function, { retryAttempts: 2 })],
    });
  }
}
