import * as path from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib/core';
import { Architecture, Runtime } from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat } from 'aws-cdk-lib/aws-lambda-nodejs';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { acknowledgeGuardRule, acknowledgeLogGroupRules } from '../guard';
import { LAMBDA_DIR, REPO_ROOT } from '../paths';

/** The runtime every function uses: the newest Node.js Lambda offers in this aws-cdk-lib. */
export const FUNCTION_RUNTIME = Runtime.NODEJS_24_X;

/**
 * esbuild options shared by the stacks and bench/lambda.bench.ts, so the benchmark measures the
 * bundle that would be deployed. The AWS SDK v3 is left out: the Node.js runtime provides it.
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
}

/**
 * A Lambda function from `lambda/<entry>.ts`: bundled by the local esbuild (never Docker), ARM64,
 * minified with source maps, its own log group with a retention period, Powertools logger settings.
 */
export class GatewayFunction extends Construct {
  readonly function: NodejsFunction;
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
    this.function = new NodejsFunction(this, 'Function', {
      role: this.role,
      entry: path.join(LAMBDA_DIR, `${props.entry}.ts`),
      handler: 'handler',
      projectRoot: REPO_ROOT,
      depsLockFilePath: path.join(REPO_ROOT, 'package-lock.json'),
      runtime: FUNCTION_RUNTIME,
      architecture: Architecture.ARM_64,
      description: props.description,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(29),
      logGroup: this.logGroup,
      bundling: { ...FUNCTION_BUNDLING, externalModules: [...FUNCTION_BUNDLING.externalModules], forceDockerBundling: false },
      environment: {
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
