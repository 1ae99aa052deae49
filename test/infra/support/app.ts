import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { App } from 'aws-cdk-lib/core';
import { buildGateway, type GatewayStacks } from '../../../lib/app';
import type { GatewayConfigInput } from '../../../lib/config';

const CDK_JSON = path.resolve(__dirname, '../../../cdk.json');

/** cdk.json's context (feature flags included): jest's `new App()` does not read cdk.json. */
export function cdkJsonContext(): Record<string, unknown> {
  return (JSON.parse(readFileSync(CDK_JSON, 'utf8')) as { context: Record<string, unknown> }).context;
}

/**
 * The gateway app as `cdk synth` builds it, with `gateway` replaced by `config`. Asset bundling
 * (esbuild for the functions and the agent) is skipped unless asked for: the templates do not
 * depend on it, and the `cdk synth` test bundles for real.
 */
export function buildTestApp(config: GatewayConfigInput, options: { bundle?: boolean } = {}): { app: App; stacks: GatewayStacks } {
  const app = new App({
    context: {
      ...cdkJsonContext(),
      gateway: config,
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
    },
  });
  return { app, stacks: buildGateway(app) };
}

/** An admin role for tests (a realistic ARN; nothing is looked up). */
export const ADMIN_ROLE_ARN = 'arn:aws:iam::111122223333:role/PlatformAdmin';

/** The least a deploy needs: a domain of one's own and an admin. */
export const MINIMAL_CONFIG: GatewayConfigInput = { domain: 'dev.acme-corp.io', admins: { roleArns: [ADMIN_ROLE_ARN] } };

export const TLS_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gateway/tls-AbCdEf';

/**
 * What a platform team deploys: own domain, proxy TLS certificate, two admin roles (one with a path,
 * in a central identity account), alarm e-mail, pinned environment.
 */
export const PRODUCTION_CONFIG: GatewayConfigInput = {
  domain: 'dev.acme-corp.io',
  account: '111122223333',
  region: 'eu-west-1',
  admins: { roleArns: [ADMIN_ROLE_ARN, 'arn:aws:iam::444455556666:role/platform/GatewayOperator'] },
  alarms: { email: 'platform-oncall@acme-corp.io' },
  proxies: { min: 2, max: 5, tlsSecretArn: TLS_SECRET_ARN },
};
