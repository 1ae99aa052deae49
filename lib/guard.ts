import { Validations } from 'aws-cdk-lib/core';
import type { IConstruct } from 'constructs';

/**
 * Acknowledges one AWS Guard (Control Tower proactive control) rule of @cdklabs/cdk-validator-cfnguard
 * on `scope`, with the reason: called next to the resource it is about.
 */
export function acknowledgeGuardRule(scope: IConstruct, rule: string, reason: string): void {
  Validations.of(scope).acknowledge({ id: `cdk-validator-cfnguard::${rule}`, reason });
}

/** The two log group rules every log group of this app answers the same way. */
export function acknowledgeLogGroupRules(logGroup: IConstruct): void {
  acknowledgeGuardRule(
    logGroup,
    'cloudwatch_log_group_retention_period_check',
    'Retention is the gateway.logRetentionDays setting (default 30 days, to bound cost); an operator who needs a year sets 365.',
  );
  acknowledgeGuardRule(
    logGroup,
    'cloudwatch_log_group_encrypted_check',
    'Nothing secret is logged (keys, tokens and credentials never are); CloudWatch Logs encrypts every log group at rest.',
  );
}
