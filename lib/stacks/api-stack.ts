import { CfnOutput, Stack, type StackProps, Validations } from 'aws-cdk-lib/core';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import type { ITableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { Construct } from 'constructs';
import { fleetRoleName, type GatewayConfig } from '../config';
import type { AccessTokenKey, CaKey } from '../constructs/ca-key';
import { GatewayFunction } from '../constructs/gateway-function';
import { FLEET_TAGS } from '../constructs/node-fleet';
import { exportName } from '../exports';
import { grantTableAccess } from '../grants';

export interface ApiStackProps extends StackProps {
  readonly config: GatewayConfig;
  readonly table: ITableV2;
  readonly caKey: CaKey;
  readonly accessTokenKey: AccessTokenKey;
  /** Base64 of the access token key's raw public key (state stack custom resource attribute). */
  readonly accessTokenPublicKey: string;
}

/** One API Gateway route: which function serves it and whether API Gateway checks IAM (SigV4). */
export interface RouteSpec {
  readonly method: string;
  readonly path: string;
  readonly fn: ApiFunctionName;
  readonly auth: 'IAM' | 'NONE';
}

/** The one deployment stage; part of every URL (`https://<id>.execute-api.<region>.amazonaws.com/api/`). */
export const API_STAGE = 'api';

export type ApiFunctionName = 'public' | 'hostAdmin' | 'enroll' | 'hostConfig' | 'nodeRegister';

/**
 * The v1 routes. Admin and node routes are IAM-authenticated by API Gateway; the others are open
 * at the gateway and authenticated by the function (enrollment token, host credential) or public.
 * `GET /v1/routes` is the proxies' (host credential, long-poll): it goes to the host-config
 * function, which already reads hosts and marks a credential's first use, and cannot sign; so
 * behind API Gateway only a proxy credential reads it (IAM admins are not recognised on open routes).
 */
export const ROUTES: readonly RouteSpec[] = [
  { method: 'GET', path: '/healthz', fn: 'public', auth: 'NONE' },
  { method: 'GET', path: '/v1/network', fn: 'public', auth: 'NONE' },
  { method: 'POST', path: '/v1/enroll', fn: 'enroll', auth: 'NONE' },
  { method: 'POST', path: '/v1/hosts', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/hosts', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/hosts/{id}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'DELETE', path: '/v1/hosts/{id}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/hosts/{id}/config', fn: 'hostConfig', auth: 'NONE' },
  { method: 'POST', path: '/v1/hosts/{id}/renew', fn: 'enroll', auth: 'NONE' },
  { method: 'POST', path: '/v1/nodes/register', fn: 'nodeRegister', auth: 'IAM' },
  { method: 'PUT', path: '/v1/hosts/{id}/ports/{port}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'DELETE', path: '/v1/hosts/{id}/ports/{port}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'POST', path: '/v1/access-tokens', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/routes', fn: 'hostConfig', auth: 'NONE' },
];

interface FunctionSpec {
  readonly entry: string;
  /** Signs certificates with the CA key. */
  readonly signs: boolean;
  /** What it may do with the access token key: sign (mint tokens), or only publish its public key (given in the environment). */
  readonly accessTokens?: 'sign' | 'publish';
  readonly tableAccess: 'read' | 'readWrite';
  readonly description: string;
}

/** Per function: its lambda/ file, which keys it may use, and what else it may do. */
const FUNCTIONS: Record<ApiFunctionName, FunctionSpec> = {
  public: { entry: 'public-api', signs: false, accessTokens: 'publish', tableAccess: 'read', description: 'GET /healthz and GET /v1/network' },
  hostAdmin: {
    entry: 'host-admin',
    signs: false,
    accessTokens: 'sign',
    tableAccess: 'readWrite',
    description: 'Admin routes (IAM): hosts, ports, access tokens (signs access tokens)',
  },
  enroll: { entry: 'enroll', signs: true, tableAccess: 'readWrite', description: 'POST /v1/enroll and POST /v1/hosts/{id}/renew (signs certificates)' },
  hostConfig: { entry: 'host-config', signs: false, tableAccess: 'readWrite', description: 'GET /v1/hosts/{id}/config and GET /v1/routes (long-poll)' },
  nodeRegister: { entry: 'node-register', signs: true, tableAccess: 'readWrite', description: 'POST /v1/nodes/register (IAM, EC2-verified; signs certificates)' },
};

/** The HTTP API on API Gateway (REST, v1 routes) and the Lambda functions behind it. */
export class ApiStack extends Stack {
  readonly api: RestApi;
  readonly functions: Record<ApiFunctionName, GatewayFunction>;

  constructor(scope: Construct, id: string, props: ApiStackProps) {
    super(scope, id, props);
    const { config, table, caKey, accessTokenKey } = props;
    const retention = config.logRetentionDays as RetentionDays;

    const accessLogs = new LogGroup(this, 'AccessLogs', { retention });
    this.api = new RestApi(this, 'Api', {
      restApiName: `${config.name}-api`,
      description: 'Nebula gateway HTTP API (v1)',
      endpointTypes: [EndpointType.REGIONAL],
      cloudWatchRole: false,
      deployOptions: {
        stageName: API_STAGE,
        accessLogDestination: new LogGroupLogDestination(accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: config.api.rateLimit,
        throttlingBurstLimit: config.api.burstLimit,
        metricsEnabled: true,
      },
    });

    const common = {
      TABLE_NAME: table.tableName,
      CERT_LIFETIME_HOURS: String(config.certificateLifetimeHours),
    };
    const make = (name: ApiFunctionName): GatewayFunction => {
      const spec = FUNCTIONS[name];
      const fn = new GatewayFunction(this, `${name[0].toUpperCase()}${name.slice(1)}`, {
        entry: spec.entry,
        description: spec.description,
        logRetention: retention,
        environment: {
          ...common,
          ...(spec.signs ? caKey.environment : {}),
          ...(spec.accessTokens === 'sign' ? accessTokenKey.environment : {}),
          ...(spec.accessTokens === 'publish' ? { TOKEN_PUBLIC_KEY: props.accessTokenPublicKey } : {}),
        },
        // Long-polls wait up to 25 s in Lambda (lambda/host-config.ts); API Gateway cuts at 29 s.
      });
      grantTableAccess(fn.function, table, spec.tableAccess);
      if (spec.signs) caKey.grantSign(fn.function);
      if (spec.accessTokens === 'sign') accessTokenKey.grantSign(fn.function);
      return fn;
    };
    this.functions = {
      public: make('public'),
      hostAdmin: make('hostAdmin'),
      enroll: make('enroll'),
      hostConfig: make('hostConfig'),
      nodeRegister: make('nodeRegister'),
    };

    const register = this.functions.nodeRegister.function;
    register.addEnvironment('LIGHTHOUSE_ROLE_NAME', fleetRoleName(config, 'lighthouse'));
    register.addEnvironment('PROXY_ROLE_NAME', fleetRoleName(config, 'proxy'));
    register.addEnvironment('FLEET_TAG_NETWORK', `${FLEET_TAGS.network}=${config.name}`);
    register.addEnvironment('FLEET_TAG_ROLE', FLEET_TAGS.role);
    // DescribeInstances supports no resource-level permissions; it only reads.
    register.addToRolePolicy(new PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    Validations.of(this.functions.nodeRegister.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances has no resource-level permissions; it is read-only and used to verify registering instances.',
    });

    const integrations = new Map<ApiFunctionName, LambdaIntegration>();
    for (const route of ROUTES) {
      const resource = this.api.root.resourceForPath(route.path);
      if (!integrations.has(route.fn)) integrations.set(route.fn, new LambdaIntegration(this.functions[route.fn].function));
      resource.addMethod(route.method, integrations.get(route.fn), {
        authorizationType: route.auth === 'IAM' ? AuthorizationType.IAM : AuthorizationType.NONE,
      });
    }

    Validations.of(this).acknowledge(
      {
        id: 'AwsSolutions-APIG2',
        reason: 'Each function validates its input with zod and answers RFC 9457 problems naming the field; an API Gateway validator would answer in another format.',
      },
      {
        id: 'AwsSolutions-APIG3',
        reason: 'Stage throttling limits abuse; a WAF web ACL is an account-wide choice left to the operator.',
      },
      {
        id: 'AwsSolutions-APIG4',
        reason: 'Routes without IAM auth are public by design (/healthz, /v1/network) or authenticated in the function by an enrollment token or host credential.',
      },
      {
        id: 'AwsSolutions-APIG6',
        reason: 'Access logs are on; execution logging needs an account-wide API Gateway CloudWatch role that this app does not own.',
      },
      {
        id: 'AwsSolutions-COG4',
        reason: 'Admin and node routes use IAM (SigV4) authorization instead of Cognito; the rest authenticate tokens in the function.',
      },
    );

    new CfnOutput(this, 'ApiUrl', { value: this.api.url, exportName: exportName(config, 'ApiUrl') });
  }

  /** ARN a fleet role may invoke to register (only `POST /v1/nodes/register` on the deployed stage). */
  get registerRouteArn(): string {
    return this.api.arnForExecuteApi('POST', '/v1/nodes/register', API_STAGE);
  }
}
