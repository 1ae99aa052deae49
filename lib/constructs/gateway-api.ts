import { RemovalPolicy, Stack, Validations } from 'aws-cdk-lib/core';
import {
  AccessLogFormat,
  AuthorizationType,
  EndpointType,
  LambdaIntegration,
  LogGroupLogDestination,
  MethodLoggingLevel,
  ResponseType,
  RestApi,
} from 'aws-cdk-lib/aws-apigateway';
import { AnyPrincipal, Effect, PolicyDocument, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { LogGroup, type RetentionDays } from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { AccessTokenKey, CaKey } from './ca-key';
import { GatewayFunction } from './gateway-function';
import type { GatewayTable } from './gateway-table';
import { parseRoleArn } from '../config';
import { PROBLEM_RESPONSES, problemTemplate } from './problem-responses';
import { acknowledgeGuardRule, acknowledgeLogGroupRules } from '../guard';

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
  { method: 'GET', path: '/v1/bootstrap', fn: 'public', auth: 'NONE' },
  { method: 'GET', path: '/v1/agent/{file}', fn: 'public', auth: 'NONE' },
  { method: 'POST', path: '/v1/enroll', fn: 'enroll', auth: 'NONE' },
  { method: 'POST', path: '/v1/hosts', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/hosts', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/hosts/{id}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'DELETE', path: '/v1/hosts/{id}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'PATCH', path: '/v1/hosts/{id}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/hosts/{id}/config', fn: 'hostConfig', auth: 'NONE' },
  { method: 'POST', path: '/v1/hosts/{id}/renew', fn: 'enroll', auth: 'NONE' },
  { method: 'POST', path: '/v1/hosts/{id}/certificate-in-use', fn: 'enroll', auth: 'NONE' },
  { method: 'POST', path: '/v1/nodes/register', fn: 'nodeRegister', auth: 'IAM' },
  { method: 'PUT', path: '/v1/hosts/{id}/ports/{port}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'DELETE', path: '/v1/hosts/{id}/ports/{port}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'POST', path: '/v1/access-tokens', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'POST', path: '/v1/network/ca-rotation', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/routes', fn: 'hostConfig', auth: 'NONE' },
  { method: 'PUT', path: '/v1/network/egress-routes', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/egress-policies/{organization}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'PUT', path: '/v1/egress-policies/{organization}', fn: 'hostAdmin', auth: 'IAM' },
  { method: 'GET', path: '/v1/egress/rules', fn: 'hostConfig', auth: 'NONE' },
];

interface FunctionSpec {
  readonly entry: string;
  /** Signs certificates with the CA key. */
  readonly signs: boolean;
  /** Starts CA rotations: signs the new CA certificate with the next CA key (when the config has one). */
  readonly startsCaRotation?: boolean;
  /** What it may do with the access token key: sign (mint tokens), or only publish its public key (given in the environment). */
  readonly accessTokens?: 'sign' | 'publish';
  readonly tableAccess: 'read' | 'readWrite';
  /** Carries the environment agent bundle in its asset (the bootstrap routes serve it). */
  readonly withAgentBundle?: boolean;
  readonly description: string;
}

/** Per function: its lambda/ file, which keys it may use, and what else it may do. */
const FUNCTIONS: Record<ApiFunctionName, FunctionSpec> = {
  public: {
    entry: 'public-api',
    signs: false,
    accessTokens: 'publish',
    tableAccess: 'read',
    withAgentBundle: true,
    description: 'GET /healthz, GET /v1/network, GET /v1/bootstrap and GET /v1/agent/{file}',
  },
  hostAdmin: {
    entry: 'host-admin',
    signs: false,
    startsCaRotation: true,
    accessTokens: 'sign',
    tableAccess: 'readWrite',
    description: 'Admin routes (IAM): hosts, ports, access tokens (signs them), egress routes and policies, CA rotation',
  },
  enroll: { entry: 'enroll', signs: true, tableAccess: 'readWrite', description: 'POST /v1/enroll, POST /v1/hosts/{id}/renew and /certificate-in-use (signs certificates)' },
  hostConfig: { entry: 'host-config', signs: false, tableAccess: 'readWrite', description: 'GET /v1/hosts/{id}/config, GET /v1/routes and GET /v1/egress/rules (answered at once)' },
  nodeRegister: { entry: 'node-register', signs: true, tableAccess: 'readWrite', description: 'POST /v1/nodes/register (IAM, EC2-verified; signs certificates)' },
};

/** What the node-register function checks about a registering instance (src/api/ec2-node-verifier.ts). */
export interface NodeRegistrationProps {
  /** Role name the lighthouse instances run as (fixed; may hold the stack's region token). */
  readonly lighthouseRoleName: string;
  /** Role name the proxy instances run as (fixed; may hold the stack's region token). */
  readonly proxyRoleName: string;
  /**
   * Role name the egress instances run as (fixed; may hold the stack's region token).
   * @default no egress fleet: no egress instance may register
   */
  readonly egressRoleName?: string;
  /** Network tag `key=value` every fleet instance carries. */
  readonly networkTag: string;
  /** Key of the tag naming the instance's role (`lighthouse`, `proxy` or `egress`). */
  readonly roleTagKey: string;
}

export interface GatewayApiProps {
  /** The gateway table; each function gets item-level read or read/write on it. */
  readonly table: GatewayTable;
  /** The CA key; only the certificate-signing functions may sign with it. */
  readonly caKey: CaKey;
  /** The access token key; only host-admin may sign with it. */
  readonly accessTokenKey: AccessTokenKey;
  /** Base64 of the access token key's raw public key, published by the public function. */
  readonly accessTokenPublicKey: string;
  /** Name of the REST API. */
  readonly restApiName: string;
  /** Lifetime of the host certificates the functions sign, in hours. */
  readonly certificateLifetimeHours: number;
  /** Stage throttling: steady requests per second. */
  readonly rateLimit: number;
  /** Stage throttling: burst. */
  readonly burstLimit: number;
  /** Retention of the access logs and the functions' logs. */
  readonly logRetention: RetentionDays;
  /** How node-register recognises the fleets' instances. */
  readonly nodeRegistration: NodeRegistrationProps;
  /** The roles whose sessions may call the admin routes (resource policy, and host-admin's own check). */
  readonly adminRoleArns: readonly string[];
  /** GATEWAY_WATCH_URL of the functions whose answers carry `watchUrl` (enroll/renew, config, registration). */
  readonly watchUrl: string;
}

/** Where agents watch their config (lambda/shared/runtime.ts reads it). */
export const WATCH_URL_ENV = 'GATEWAY_WATCH_URL';
/** The functions whose answers tell agents where to watch. */
export const WATCH_URL_FUNCTIONS = ['enroll', 'hostConfig', 'nodeRegister'] as const satisfies readonly ApiFunctionName[];

/** The API's URL the bootstrap script pins (lambda/shared/runtime.ts reads it): the stage's, as environments reach it. */
export const API_URL_ENV = 'GATEWAY_API_URL';

/** Environment variable naming the admin roles (comma-separated ARNs) for the functions serving admin routes. */
export const ADMIN_ROLES_ENV = 'GATEWAY_ADMIN_ROLE_ARNS';

/** `stage/METHOD/path` as execute-api names it, `{param}` as `*`: for resource policies. */
export function routeResource(route: Pick<RouteSpec, 'method' | 'path'>): string {
  return `${API_STAGE}/${route.method}${route.path.replace(/\{[^}]+\}/g, '*')}`;
}

/**
 * `aws:PrincipalArn` patterns for a role: the role (what IAM reports for its sessions) and its
 * assumed-role sessions, in the role's own partition and account (an admin role may live in another
 * account).
 */
function rolePrincipalPatterns(role: { arn: string; partition: string; account: string; roleName: string }): string[] {
  return [role.arn, `arn:${role.partition}:sts::${role.account}:assumed-role/${role.roleName}/*`];
}

/**
 * The HTTP API on API Gateway (REST, regional, one stage with access logs and throttling), the
 * Lambda functions behind it with their key and table grants, and the `ROUTES` table wired to them.
 */
export class GatewayApi extends Construct {
  readonly api: RestApi;
  readonly accessLogs: LogGroup;
  readonly functions: Record<ApiFunctionName, GatewayFunction>;
  /** ARN a fleet role may invoke to register (only `POST /v1/nodes/register` on the deployed stage). */
  readonly registerRouteArn: string;

  constructor(scope: Construct, id: string, props: GatewayApiProps) {
    super(scope, id);
    const { table, caKey, accessTokenKey } = props;

    // CDK's deployment id hashes the RestApi, policy included: new admins redeploy the stage (test/infra/variants.test.ts).
    const policy = this.resourcePolicy(props);
    this.accessLogs = new LogGroup(this, 'AccessLogs', { retention: props.logRetention });
    acknowledgeLogGroupRules(this.accessLogs);
    // `Default`: the API keeps the logical ID (and so its id and URL) it had when the stack created it directly.
    this.api = new RestApi(this, 'Default', {
      restApiName: props.restApiName,
      description: 'Nebula gateway HTTP API (v1)',
      endpointTypes: [EndpointType.REGIONAL],
      // API Gateway refuses stage logging until the account (per region) names a CloudWatch Logs
      // role. This creates one and points the account at it; both are retained, so deleting this
      // stack never leaves the account pointing at a deleted role (another stack may rely on it).
      cloudWatchRole: true,
      cloudWatchRoleRemovalPolicy: RemovalPolicy.RETAIN,
      policy,
      deployOptions: {
        stageName: API_STAGE,
        accessLogDestination: new LogGroupLogDestination(this.accessLogs),
        accessLogFormat: AccessLogFormat.jsonWithStandardFields(),
        throttlingRateLimit: props.rateLimit,
        throttlingBurstLimit: props.burstLimit,
        metricsEnabled: true,
        loggingLevel: MethodLoggingLevel.ERROR,
        tracingEnabled: true,
        dataTraceEnabled: false,
      },
    });
    for (const spec of PROBLEM_RESPONSES) {
      this.api.addGatewayResponse(`Problem${spec.responseType}`, {
        type: ResponseType.of(spec.responseType),
        responseHeaders: { 'Content-Type': "'application/problem+json'" },
        templates: { 'application/json': problemTemplate(spec) },
      });
    }

    const common = {
      TABLE_NAME: table.tableName,
      CERT_LIFETIME_HOURS: String(props.certificateLifetimeHours),
    };
    const make = (name: ApiFunctionName): GatewayFunction => {
      const spec = FUNCTIONS[name];
      const fn = new GatewayFunction(this, `${name[0].toUpperCase()}${name.slice(1)}`, {
        entry: spec.entry,
        description: spec.description,
        logRetention: props.logRetention,
        withAgentBundle: spec.withAgentBundle,
        environment: {
          ...common,
          ...(spec.signs ? caKey.environment : {}),
          ...(spec.accessTokens === 'sign' ? accessTokenKey.environment : {}),
          ...(spec.accessTokens === 'publish' ? { TOKEN_PUBLIC_KEY: props.accessTokenPublicKey } : {}),
        },
        // Every call answers at once (no long-poll in Lambda): watches run on the server, at GATEWAY_WATCH_URL.
      });
      if (spec.tableAccess === 'read') table.grantReadItems(fn.function);
      else table.grantReadWriteItems(fn.function);
      if (spec.signs) caKey.grantSign(fn.function);
      if (spec.startsCaRotation) {
        // The new CA of a rotation is self-signed by the next key; this function signs nothing else with it.
        caKey.grantNextKeySign(fn.function);
        for (const [name, value] of Object.entries(caKey.nextKeyEnvironment)) fn.function.addEnvironment(name, value);
      }
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

    this.functions.hostAdmin.function.addEnvironment(ADMIN_ROLES_ENV, props.adminRoleArns.join(','));
    for (const name of WATCH_URL_FUNCTIONS) this.functions[name].function.addEnvironment(WATCH_URL_ENV, props.watchUrl);
    // The stage URL from the API's id, not this.api.url: that names the stage, which depends on the
    // methods, which depend on the function (a cycle).
    const stack = Stack.of(this);
    this.functions.public.function.addEnvironment(API_URL_ENV, `https://${this.api.restApiId}.execute-api.${stack.region}.${stack.urlSuffix}/${API_STAGE}`);

    const register = this.functions.nodeRegister.function;
    const { nodeRegistration } = props;
    register.addEnvironment('LIGHTHOUSE_ROLE_NAME', nodeRegistration.lighthouseRoleName);
    register.addEnvironment('PROXY_ROLE_NAME', nodeRegistration.proxyRoleName);
    if (nodeRegistration.egressRoleName) register.addEnvironment('EGRESS_ROLE_NAME', nodeRegistration.egressRoleName);
    register.addEnvironment('FLEET_TAG_NETWORK', nodeRegistration.networkTag);
    register.addEnvironment('FLEET_TAG_ROLE', nodeRegistration.roleTagKey);
    // DescribeInstances supports no resource-level permissions; it only reads.
    register.addToRolePolicy(new PolicyStatement({ actions: ['ec2:DescribeInstances'], resources: ['*'] }));
    Validations.of(this.functions.nodeRegister.role).acknowledge({
      id: 'AwsSolutions-IAM5[Resource::*]',
      reason: 'ec2:DescribeInstances has no resource-level permissions; it is read-only and used to verify registering instances.',
    });

    const integrations = new Map<ApiFunctionName, LambdaIntegration>();
    for (const route of ROUTES) {
      const resource = this.api.root.resourceForPath(route.path);
      // No test-invoke permissions: the console's "Test" button is not worth a second permission per route.
      if (!integrations.has(route.fn)) integrations.set(route.fn, new LambdaIntegration(this.functions[route.fn].function, { allowTestInvoke: false }));
      const method = resource.addMethod(route.method, integrations.get(route.fn), {
        authorizationType: route.auth === 'IAM' ? AuthorizationType.IAM : AuthorizationType.NONE,
      });
      acknowledgeGuardRule(
        method,
        'lambda_function_public_access_prohibited_check',
        "The permission's principal is apigateway.amazonaws.com with SourceArn set to this method of this API (an Fn::Join the rule does not read).",
      );
    }
    this.registerRouteArn = this.api.arnForExecuteApi('POST', '/v1/nodes/register', API_STAGE);

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
        id: 'AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs]',
        reason: "API Gateway's account-level CloudWatch Logs role: the AWS managed policy is the documented one for it.",
      },
      {
        id: 'AwsSolutions-COG4',
        reason: 'Admin and node routes use IAM (SigV4) authorization instead of Cognito; the rest authenticate tokens in the function.',
      },
    );
  }

  /**
   * Who may invoke what (with IAM auth in the same account, an identity policy alone would let any
   * principal with `execute-api:Invoke` in; the Deny statements close that): open routes to anyone
   * (the functions authenticate), the admin routes only to the admin roles' sessions, node
   * registration only to the fleet roles. Resources use `*` for the API id: the policy is part of
   * the API, which cannot name its own id.
   */
  private resourcePolicy(props: GatewayApiProps): PolicyDocument {
    const stack = Stack.of(this);
    const arn = (resource: string) => stack.formatArn({ service: 'execute-api', resource: '*', resourceName: resource });
    const register = ROUTES.filter((r) => r.fn === 'nodeRegister').map((r) => arn(routeResource(r)));
    const open = ROUTES.filter((r) => r.auth === 'NONE').map((r) => arn(routeResource(r)));
    const admins = props.adminRoleArns.flatMap((arn) => rolePrincipalPatterns({ arn, ...parseRoleArn(arn) }));
    const { lighthouseRoleName, proxyRoleName, egressRoleName } = props.nodeRegistration;
    const fleets = [lighthouseRoleName, proxyRoleName, ...(egressRoleName ? [egressRoleName] : [])].flatMap((roleName) =>
      rolePrincipalPatterns({
        arn: stack.formatArn({ service: 'iam', region: '', resource: 'role', resourceName: roleName }),
        partition: stack.partition,
        account: stack.account,
        roleName,
      }),
    );
    return new PolicyDocument({
      statements: [
        new PolicyStatement({ sid: 'Routes', principals: [new AnyPrincipal()], actions: ['execute-api:Invoke'], resources: [arn(`${API_STAGE}/*`)] }),
        new PolicyStatement({
          sid: 'AdminRoutesOnlyToAdmins',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['execute-api:Invoke'],
          notResources: [...open, ...register],
          conditions: { ArnNotLike: { 'aws:PrincipalArn': admins } },
        }),
        new PolicyStatement({
          sid: 'RegistrationOnlyToFleets',
          effect: Effect.DENY,
          principals: [new AnyPrincipal()],
          actions: ['execute-api:Invoke'],
          resources: register,
          conditions: { ArnNotLike: { 'aws:PrincipalArn': fleets } },
        }),
      ],
    });
  }

  /** The stage's invoke URL (`https://<id>.execute-api.<region>.amazonaws.com/api/`). */
  get url(): string {
    return this.api.url;
  }
}
