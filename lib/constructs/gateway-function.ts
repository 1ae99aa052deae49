import * as path from 'node:path';
import { AssetHashType, type BundlingOptions, DockerImage, Duration, RemovalPolicy } from 'aws-cdk-lib/core';
import { Architecture, Code, Function as LambdaFunction, Runtime } from 'aws-cdk-lib/aws-lambda';
import { OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { buildSync } from 'esbuild';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeGuardRule, acknowledgeLogGroupRules } from '../guard';
import { AGENT_BUNDLE_FILE, bundleAgent } from '../bundles';
import { LAMBDA_DIR } from '../paths';

/** The runtime every function uses: the newest Node.js Lambda offers in this aws-cdk-lib. */
export const FUNCTION_RUNTIME = Runtime.NODEJS_24_X;

/**
 * esbuild options shared by the stacks and bench/lambda.bench.ts, so the benchmark measures the
 * bundle that would be deployed. The AWS SDK v3 is left out: the Node.js runtime provides it.
 * (NodejsFunction's option names; GatewayFunction runs esbuild itself, see below.)
 */
export const FUNCTION_BUNDLING = {
  minify: true,
  sourceMap: true,
  target: 'node24',
  format: OutputFormat.CJS,
  externalModules: ['@aws-sdk/*', '@smithy/*'],
} as const;

export interface GatewayFunctionProps {
  /** File name in lambda/ without extension, e.g. `enroll`. */
  readonly entry: string;
  /** Description of the function and its role. */
  readonly description: string;
  /**
   * Environment variables, next to the Powertools logger settings.
   * @default only the Powertools settings
   */
  readonly environment?: Record<string, string>;
  /** Retention of the function's log group. */
  readonly logRetention: RetentionDays;
  /** @default 29 seconds: API Gateway's integration limit. */
  readonly timeout?: Duration;
  /** @default 512 */
  readonly memorySize?: number;
  /**
   * Also bundle the environment agent (lib/bundles.ts) as `gateway-agent.js` beside `index.js`,
   * where the bootstrap routes find it (src/bootstrap/agent-bundle.ts).
   * @default false
   */
  readonly withAgentBundle?: boolean;
}

/**
 * A Lambda function from `lambda/<entry>.ts`: bundled by the local esbuild (never Docker), ARM64,
 * minified with source maps, its own log group with a retention period, Powertools logger settings.
 * esbuild runs in this process (`buildSync`) rather than through NodejsFunction, which starts
 * `npx esbuild` for each function: about a second of npx per function, most of `cdk synth`'s time.
 * The asset's hash is the bundle's (OUTPUT).
 */
export class GatewayFunction extends Construct {
  readonly function: LambdaFunction;
  readonly logGroup: LogGroup;
  readonly role: Role;

  constructor(scope: Construct, id: string, props: GatewayFunctionProps) {
    super(scope, id);
    this.logGroup = new LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledgeLogGroupRules(this.logGroup);
    // Its own role, allowed to write to its own log group only (no AWSLambdaBasicExecutionRole).
    this.role = new Role(this, 'Role', { assumedBy: new ServicePrincipal('lambda.amazonaws.com'), description: props.description });
    this.role.addToPolicy(
      new PolicyStatement({ actions: ['logs:CreateLogStream', 'logs:PutLogEvents'], resources: [this.logGroup.logGroupArn] }),
    );
    this.function = new LambdaFunction(this, 'Function', {
      role: this.role,
      code: bundledCode(path.join(LAMBDA_DIR, `${props.entry}.ts`), props.withAgentBundle ?? false),
      handler: 'index.handler',
      runtime: FUNCTION_RUNTIME,
      architecture: Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(29),
      logGroup: this.logGroup,
      environment: {
        // Stack traces through the source maps (what NodejsFunction sets with sourceMap).
        NODE_OPTIONS: '--enable-source-maps',
        POWERTOOLS_SERVICE_NAME: 'nebula-gateway',
        POWERTOOLS_LOG_LEVEL: 'INFO',
        ...props.environment,
      },
    });
    acknowledgeGuardRule(
      this.function,
      'lambda_inside_vpc_check',
      'The functions reach only AWS APIs (DynamoDB, KMS, Secrets Manager, EC2, Auto Scaling); a VPC would add NAT or endpoints and cold-start cost, no protection.',
    );
  }
}

/** `index.js` (and its source map) bundled from `entry` by the local esbuild, with FUNCTION_BUNDLING. */
function bundledCode(entry: string, withAgentBundle: boolean): Code {
  return Code.fromAsset(LAMBDA_DIR, {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      // Never used: local bundling always succeeds or throws (no Docker fallback).
      image: DockerImage.fromRegistry('public.ecr.aws/docker/library/node:22-slim'),
      // The entry travels in the bundling options, which key CDK's staging cache (tryBundle's code does not).
      environment: { [ENTRY_OPTION]: entry, ...(withAgentBundle ? { [AGENT_OPTION]: AGENT_BUNDLE_FILE } : {}) },
      local: {
        tryBundle(outputDir: string, options: BundlingOptions): boolean {
          buildSync({
            entryPoints: [options.environment![ENTRY_OPTION]],
            outfile: path.join(outputDir, 'index.js'),
            bundle: true,
            platform: 'node',
            minify: FUNCTION_BUNDLING.minify,
            sourcemap: FUNCTION_BUNDLING.sourceMap,
            target: FUNCTION_BUNDLING.target,
            format: FUNCTION_BUNDLING.format === OutputFormat.CJS ? 'cjs' : 'esm',
            external: [...FUNCTION_BUNDLING.externalModules],
            logLevel: 'error',
          });
          const agentFile = options.environment![AGENT_OPTION];
          if (agentFile) bundleAgent(path.join(outputDir, agentFile));
          return true;
        },
      },
    },
  });
}

const ENTRY_OPTION = 'GATEWAY_FUNCTION_ENTRY';
const AGENT_OPTION = 'GATEWAY_FUNCTION_AGENT_BUNDLE';
