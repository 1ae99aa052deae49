import { type App, Validations } from 'aws-cdk-lib/core';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { AwsSolutionsChecks } from 'cdk-nag';
import { CONTEXT_KEY, type GatewayConfig, parseConfig } from './config';
import { ApiStack } from './stacks/api-stack';
import { FleetsStack } from './stacks/fleets-stack';
import { MonitoringStack } from './stacks/monitoring-stack';
import { NetworkStack } from './stacks/network-stack';
import { serverEndpoint } from './constructs/gateway-server';
import { ServerStack, serverNamespaceName } from './stacks/server-stack';
import { StateStack } from './stacks/state-stack';

export interface GatewayStacks {
  readonly config: GatewayConfig;
  /** The alarm topic and dashboard; deployed first. */
  readonly monitoring: MonitoringStack;
  /** Absent when the config imports an existing VPC. */
  readonly network?: NetworkStack;
  readonly state: StateStack;
  readonly api: ApiStack;
  readonly server: ServerStack;
  readonly fleets: FleetsStack;
}

/**
 * Builds the gateway into `app` from its context (`gateway` key), with cdk-nag's AWS Solutions
 * checks: an unacknowledged finding fails synth. Stacks: `<name>-Monitoring` (alarm topic,
 * dashboard), `<name>-Network` (only when the VPC is created) and `<name>-State` (retained,
 * long-lived), and the stateless `<name>-Api`, `<name>-Fleets`, `<name>-Server`. Fleets reads the
 * Api's values and Server the Fleets' from SSM at each deploy (lib/deploy-time-values.ts), so those
 * dependencies are declared here.
 */
/** Context key that turns the AWS Guard rules on for `cdk synth` (`-c guard=true`); test/infra always runs them. */
export const GUARD_CONTEXT_KEY = 'guard';

export function buildGateway(app: App, options: { nag?: boolean; guard?: boolean } = {}): GatewayStacks {
  const config = parseConfig(app.node.tryGetContext(CONTEXT_KEY));
  const env = { account: config.account, region: config.region };
  const description = (what: string) => `Nebula gateway ${config.name}: ${what}`;

  const monitoring = new MonitoringStack(app, `${config.name}-Monitoring`, { env, config, description: description('alarm topic and dashboard') });
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
    table: state.table,
    serverEndpoint: serverEndpoint(serverNamespaceName(config)),
    description: description('lighthouse and proxy fleets, DNS records, node lifecycle'),
  });
  fleets.addStackDependency(api, 'reads the API URL and register route from SSM');
  // ECS refuses a target group no listener uses: the watch listener (Fleets) comes before the service.
  server.addStackDependency(fleets, "reads the fleets' security groups and the watch target group from SSM");
  for (const stack of [state, api, server, fleets]) stack.addStackDependency(monitoring, 'its alarms notify the alarm topic');
  monitoring.addDashboard([state, api, server, fleets].flatMap((stack) => stack.alarms.names));

  // cdk-nag's AWS Solutions checks and, when asked, the AWS Control Tower proactive controls
  // (cfn-guard; about 15 s, so not on every synth): an unacknowledged finding of either fails
  // synth; each acknowledgement sits next to its resource.
  if (options.nag ?? true) Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
  const guard = options.guard ?? [true, 'true'].includes(app.node.tryGetContext(GUARD_CONTEXT_KEY));
  if (guard) Validations.of(app).addPlugins(new CfnGuardValidator());
  return { config, monitoring, network, state, api, server, fleets };
}
