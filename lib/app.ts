import { type App, Validations } from 'aws-cdk-lib/core';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONTEXT_KEY, type GatewayConfig, parseConfig } from './config';
import { ApiStack } from './stacks/api-stack';
import { FleetsStack } from './stacks/fleets-stack';
import { NetworkStack } from './stacks/network-stack';
import { ServerStack } from './stacks/server-stack';
import { StateStack } from './stacks/state-stack';

export interface GatewayStacks {
  readonly config: GatewayConfig;
  /** Absent when the config imports an existing VPC. */
  readonly network?: NetworkStack;
  readonly state: StateStack;
  readonly api: ApiStack;
  readonly server: ServerStack;
  readonly fleets: FleetsStack;
}

/**
 * Builds the gateway into `app` from its context (`gateway` key), with cdk-nag's AWS Solutions
 * checks: an unacknowledged finding fails synth. Stacks: `<name>-Network` (only when the VPC is
 * created) and `<name>-State` (retained, long-lived), and the stateless `<name>-Api`,
 * `<name>-Server`, `<name>-Fleets`.
 */
export function buildGateway(app: App, options: { nag?: boolean } = {}): GatewayStacks {
  const config = parseConfig(app.node.tryGetContext(CONTEXT_KEY));
  const env = { account: config.account, region: config.region };
  const description = (what: string) => `Nebula gateway ${config.name}: ${what}`;

  const network =
    config.vpc.mode === 'create' ? new NetworkStack(app, `${config.name}-Network`, { env, config, description: description('VPC') }) : undefined;
  const state = new StateStack(app, `${config.name}-State`, {
    env,
    config,
    description: description('table, CA key, CA record, hosted zone (retained)'),
    terminationProtection: true,
  });
  const api = new ApiStack(app, `${config.name}-Api`, {
    env,
    config,
    table: state.table,
    caKey: state.caKey,
    accessTokenKey: state.accessTokenKey,
    accessTokenPublicKey: state.ca.accessTokenPublicKey,
    description: description('HTTP API (API Gateway + Lambda)'),
  });
  const server = new ServerStack(app, `${config.name}-Server`, {
    env,
    config,
    vpc: network?.vpc,
    table: state.table,
    caKey: state.caKey,
    description: description('gateway server (ECS Fargate)'),
  });
  const fleets = new FleetsStack(app, `${config.name}-Fleets`, {
    env,
    config,
    vpc: network?.vpc,
    createdZone: state.hostedZone,
    apiUrl: api.api.url,
    registerRouteArn: api.api.registerRouteArn,
    serverSecurityGroup: server.server.securityGroup,
    serverEndpoint: server.server.endpoint,
    description: description('lighthouse and proxy fleets, DNS records'),
  });
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  return { config, network, state, api, server, fleets };
}
