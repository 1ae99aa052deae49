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
