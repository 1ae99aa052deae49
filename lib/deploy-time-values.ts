import { Stack } from 'aws-cdk-lib/core';
import { StringParameter } from 'aws-cdk-lib/aws-ssm';
import type { Construct } from 'constructs';
import type { GatewayConfig } from './config';

/**
 * Values one stateless stack hands another through SSM Parameter Store (Api → Fleets → Server), not a cross-stack
 * reference. The consumer reads each as an `AWS::SSM::Parameter::Value<String>` template parameter:
 * CloudFormation resolves it again on every update, and `cdk deploy` never skips a stack with such
 * a parameter. So after the producer is redeployed (a new security group, a new API after a
 * destroy), the next `cdk deploy --all` puts the new value into the consumer's resources (an
 * ingress rule, a launch template: the fleets roll). No export lock either: the producer can be
 * destroyed and redeployed freely.
 */
export const DEPLOY_TIME_VALUES = {
  /** The API's stage URL (ending in `/`): the instances register through it. */
  apiUrl: 'api/url',
  /** execute-api ARN of `POST /v1/nodes/register`: the only route the fleet roles may call. */
  registerRouteArn: 'api/register-route-arn',
  /** The lighthouses' security group: the server admits it on its port. */
  lighthouseSecurityGroupId: 'fleets/lighthouse-security-group-id',
  /** The proxies' security group: the server admits it on its port. */
  proxySecurityGroupId: 'fleets/proxy-security-group-id',
  /** The proxy NLB's security group: the server admits the watch listener's traffic and health checks from it. */
  loadBalancerSecurityGroupId: 'fleets/load-balancer-security-group-id',
  /** The egress nodes' security group (with `gateway.egress.enabled` only): the server admits it on its port. */
  egressSecurityGroupId: 'fleets/egress-security-group-id',
  /** The target group behind the NLB's watch listener (`watch.<domain>:8443`): the server's service registers its tasks in it. */
  watchTargetGroupArn: 'fleets/watch-target-group-arn',
} as const;
export type DeployTimeValue = keyof typeof DEPLOY_TIME_VALUES;

/** `/<name>/<key>`: one namespace per gateway (and per region: parameters are regional). */
export function deployTimeParameterName(config: Pick<GatewayConfig, 'name'>, value: DeployTimeValue): string {
  return `/${config.name}/${DEPLOY_TIME_VALUES[value]}`;
}

/** Writes `value` (usually a token of the producer's resource) under its parameter name. */
export function publishDeployTimeValue(scope: Construct, config: Pick<GatewayConfig, 'name'>, value: DeployTimeValue, text: string): StringParameter {
  return new StringParameter(scope, `Shared${value[0].toUpperCase()}${value.slice(1)}`, {
    parameterName: deployTimeParameterName(config, value),
    stringValue: text,
    description: `Nebula gateway ${config.name}: read by the other stacks at each deploy`,
  });
}

/** A token the consumer's stack resolves from the parameter at each deploy (a template parameter). */
export function consumeDeployTimeValue(scope: Construct, config: Pick<GatewayConfig, 'name'>, value: DeployTimeValue): string {
  return StringParameter.valueForStringParameter(Stack.of(scope), deployTimeParameterName(config, value));
}
