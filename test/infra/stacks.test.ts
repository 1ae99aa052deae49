import { Match, Template } from 'aws-cdk-lib/assertions';
import { SSMPARAM_NO_INVALIDATE } from 'aws-cdk-lib/cx-api';
import { deployTimeParameterName } from '../../lib/deploy-time-values';
import { resolveIntrinsics } from './support/intrinsics';
import { PROBLEM_TYPE_BASE } from '../../lib/constructs/problem-responses';
import { ApiProblem } from '../../src/api/problem';
import { TABLE_SCHEMA } from '../../src/store/schema';
import { fleetRoleName } from '../../lib/config';
import { EXPORTED_OUTPUTS } from '../../lib/exports';
import { ROUTES } from '../../lib/constructs/gateway-api';
import type { GatewayStacks } from '../../lib/app';
import { ADMIN_ROLE_ARN, buildTestApp, PRODUCTION_CONFIG, TLS_SECRET_ARN } from './support/app';

// One synth for the whole file, of a typical production config (own domain, TLS secret, two admin
// roles, alarm e-mail, pinned account and region; cdk-nag AwsSolutionsChecks included: an
// unacknowledged finding makes app.synth() throw), then assertions on the templates.
let stacks: GatewayStacks;
const templates: Record<string, Template> = {};
const t = (name: keyof Omit<GatewayStacks, 'config'>) => templates[name];

beforeAll(() => {
  const built = buildTestApp(PRODUCTION_CONFIG);
  stacks = built.stacks;
  built.app.synth();
  for (const name of ['monitoring', 'network', 'state', 'api', 'server', 'fleets'] as const) {
    templates[name] = Template.fromStack(stacks[name]!);
  }
});

type Resources = Record<string, { Type: string; Properties?: Record<string, any>; [k: string]: unknown }>;
const resources = (name: keyof Omit<GatewayStacks, 'config'>, type: string): Resources =>
  t(name).findResources(type) as Resources;
const allTemplates = () => Object.values(templates).map((tpl) => tpl.toJSON() as { Resources: Resources; Outputs?: Record<string, any> });

describe('state stack', () => {
  it('keeps the table: TableV2 from TABLE_SCHEMA, on-demand, PITR, deletion protection, TTL, retained except when its own create fails', () => {
    t('state').resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    t('state').hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({
        BillingMode: 'PAY_PER_REQUEST',
        KeySchema: [
          { AttributeName: TABLE_SCHEMA.partitionKey.name, KeyType: 'HASH' },
          { AttributeName: TABLE_SCHEMA.sortKey.name, KeyType: 'RANGE' },
        ],
        TimeToLiveSpecification: { AttributeName: TABLE_SCHEMA.timeToLiveAttribute, Enabled: true },
        GlobalSecondaryIndexes: [
          Match.objectLike({
            IndexName: 'gsi1',
            KeySchema: [
              { AttributeName: 'gsi1pk', KeyType: 'HASH' },
              { AttributeName: 'gsi1sk', KeyType: 'RANGE' },
            ],
            Projection: { ProjectionType: 'ALL' },
          }),
        ],
        Replicas: [
          Match.objectLike({
            PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
            DeletionProtectionEnabled: true,
          }),
        ],
      }),
    });
  });

  it('is protected from stack deletion', () => {
    expect(stacks.state.terminationProtection).toBe(true);
    expect(stacks.api.terminationProtection).toBe(false);
  });

  it('keeps the CA key in KMS: Ed25519, sign/verify, retained (except on a failed create)', () => {
    t('state').hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }),
    });
  });

  it('creates the CA through a custom resource backed by lambda/ca-init, and retains the hosted zone', () => {
    t('state').hasResourceProperties('Custom::NebulaCa', {
      ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkCaInit'), 'Arn'] },
      OverlayCidr: '100.100.0.0/16',
      CaLifetimeDays: 3650,
      // CloudFormation gives up on a silent function after 5 minutes, not an hour.
      ServiceTimeout: '300',
    });
    t('state').hasResource('AWS::Route53::HostedZone', { DeletionPolicy: 'RetainExceptOnCreate', Properties: { Name: 'dev.acme-corp.io.' } });
  });

  it('no stateful resource is plainly retained: a failed first create leaves nothing to block the retry', () => {
    const stateful = Object.values(t('state').toJSON().Resources as Resources).filter((r) =>
      ['AWS::DynamoDB::GlobalTable', 'AWS::KMS::Key', 'AWS::SecretsManager::Secret', 'AWS::Route53::HostedZone'].includes(r.Type),
    );
    expect(stateful.map((r) => [r.Type, r.DeletionPolicy, r.UpdateReplacePolicy])).toEqual([
      ['AWS::DynamoDB::GlobalTable', 'RetainExceptOnCreate', 'Retain'],
      ['AWS::KMS::Key', 'RetainExceptOnCreate', 'Retain'],
      ['AWS::KMS::Key', 'RetainExceptOnCreate', 'Retain'],
      ['AWS::Route53::HostedZone', 'RetainExceptOnCreate', 'Retain'],
    ]);
  });

  it("outputs the hosted zone's name servers for the delegation", () => {
    expect(t('state').toJSON().Outputs.NameServers).toEqual({
      Description: 'NS records to add for dev.acme-corp.io in its parent zone',
      Value: { 'Fn::Join': [',', { 'Fn::GetAtt': [expect.stringMatching(/^HostedZone/), 'NameServers'] }] },
    });
  });

  it('only AWS services may create grants on the signing keys', () => {
    for (const key of Object.values(resources('state', 'AWS::KMS::Key'))) {
      expect(key.Properties!.KeyPolicy.Statement).toContainEqual({
        Sid: 'GrantsOnlyForAwsServices',
        Effect: 'Deny',
        Principal: { AWS: '*' },
        Action: 'kms:CreateGrant',
        Resource: '*',
        Condition: { BoolIfExists: { 'kms:GrantIsForAWSResource': 'false', 'aws:PrincipalIsAWSService': 'false' } },
      });
    }
  });
});

describe('who may sign with which key', () => {
  type KeyName = 'CaKey' | 'AccessTokenKey';
  /** The signing key a policy resource names (a GetAtt in the state stack, a weak reference elsewhere). */
  const keyOf = (resource: unknown): KeyName | 'other' => {
    const text = JSON.stringify(resource);
    return /AccessTokenKey/.test(text) ? 'AccessTokenKey' : /CaKey/.test(text) ? 'CaKey' : 'other';
  };

  /** Logical ids of the roles whose policies allow `action` on `key`, over every stack. */
  function rolesAllowed(action: string, key: KeyName): string[] {
    const found = new Set<string>();
    for (const tpl of allTemplates()) {
      for (const res of Object.values(tpl.Resources)) {
        if (res.Type !== 'AWS::IAM::Policy') continue;
        const statements = res.Properties!.PolicyDocument.Statement as { Action: string | string[]; Effect: string; Resource: unknown }[];
        const allows = statements.some((s) => s.Effect === 'Allow' && [s.Action].flat().includes(action) && [s.Resource].flat().some((r) => keyOf(r) === key));
        if (!allows) continue;
        for (const role of res.Properties!.Roles as { Ref: string }[]) found.add(role.Ref);
      }
    }
    return [...found].sort();
  }

  it('two Ed25519 KMS keys, retained: the CA key and a separate access token key', () => {
    const keys = Object.entries(resources('state', 'AWS::KMS::Key'));
    expect(keys.map(([id]) => id.replace(/[0-9A-F]{8}$/, '')).sort()).toEqual(['AccessTokenKey', 'CaKey']);
    for (const [, key] of keys) {
      expect(key).toMatchObject({ DeletionPolicy: 'RetainExceptOnCreate', Properties: { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' } });
    }
  });

  it('the CA key: only the certificate-signing functions and the server task may kms:Sign (and read the public key)', () => {
    const signers = rolesAllowed('kms:Sign', 'CaKey');
    expect(signers).toEqual([
      expect.stringMatching(/^ApiEnrollRole/),
      expect.stringMatching(/^ApiNodeRegisterRole/),
      expect.stringMatching(/^NetworkCaInitRole/),
      expect.stringMatching(/^ServerTaskTaskRole/),
    ]);
    expect(rolesAllowed('kms:GetPublicKey', 'CaKey')).toEqual(signers);
    for (const tpl of allTemplates()) {
      const policies = Object.values(tpl.Resources).filter((r) => r.Type === 'AWS::IAM::Policy');
      expect(JSON.stringify(policies)).not.toMatch(/"kms:\*"|"kms:Sign\*"/);
    }
  });

  it('the access token key: only the host-admin function (POST /v1/access-tokens) may sign; the CA custom resource reads its public key', () => {
    expect(rolesAllowed('kms:Sign', 'AccessTokenKey')).toEqual([expect.stringMatching(/^ApiHostAdminRole/)]);
    expect(rolesAllowed('kms:GetPublicKey', 'AccessTokenKey')).toEqual([expect.stringMatching(/^ApiHostAdminRole/), expect.stringMatching(/^NetworkCaInitRole/)]);
    t('state').hasResourceProperties('Custom::NebulaCa', { AccessTokenKeyArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^AccessTokenKey'), 'Arn'] } });
  });

  it('environments: CA key for the certificate signers, token key for host-admin, only the token public key for public-api', () => {
    const fns = resources('api', 'AWS::Lambda::Function');
    const summary = Object.entries(fns).map(([id, fn]) => {
      const env = fn.Properties!.Environment.Variables as Record<string, unknown>;
      return [id.replace(/^Api/, '').replace(/Function[0-9A-F]{8}$/, ''), ['CA_KEY_ARN', 'TOKEN_KEY_ARN', 'TOKEN_PUBLIC_KEY'].filter((k) => k in env)];
    });
    expect(Object.fromEntries(summary)).toEqual({
      Public: ['TOKEN_PUBLIC_KEY'],
      HostAdmin: ['TOKEN_KEY_ARN'],
      Enroll: ['CA_KEY_ARN'],
      HostConfig: [],
      NodeRegister: ['CA_KEY_ARN'],
    });
    t('api').hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          TOKEN_PUBLIC_KEY: { 'Fn::GetStackOutput': Match.objectLike({ OutputName: Match.stringLikeRegexp('NetworkCaRecord[0-9A-F]{8}AccessTokenPublicKey') }) },
        }),
      },
    });
  });
});

describe('Lambda functions', () => {
  it('are ARM64 on the current Node.js runtime, with their own log group and a retention period', () => {
    const fns = { ...resources('api', 'AWS::Lambda::Function'), ...resources('state', 'AWS::Lambda::Function') };
    expect(Object.keys(fns)).toHaveLength(6);
    for (const fn of Object.values(fns)) {
      expect(fn.Properties).toMatchObject({
        Architectures: ['arm64'],
        Runtime: 'nodejs24.x',
        Handler: 'index.handler',
        LoggingConfig: { LogGroup: { Ref: expect.any(String) } },
      });
    }
    for (const name of ['api', 'state'] as const) {
      for (const group of Object.values(resources(name, 'AWS::Logs::LogGroup'))) {
        expect(group.Properties!.RetentionInDays).toBe(30);
      }
    }
  });

  it('may write only to their own log group (no AWSLambdaBasicExecutionRole)', () => {
    const lambdaRoles = Object.values(resources('api', 'AWS::IAM::Role')).filter((role) =>
      JSON.stringify(role.Properties!.AssumeRolePolicyDocument).includes('lambda.amazonaws.com'),
    );
    expect(lambdaRoles).toHaveLength(5);
    for (const role of lambdaRoles) expect(role.Properties!.ManagedPolicyArns).toBeUndefined();
    t('api').hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Action: ['logs:CreateLogStream', 'logs:PutLogEvents'], Resource: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ApiPublicLogs'), 'Arn'] } }),
        ]),
      },
    });
  });

  it('the public function may only read items; no function may Scan', () => {
    t('api').hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^ApiPublicRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([Match.objectLike({ Action: ['dynamodb:BatchGetItem', 'dynamodb:GetItem', 'dynamodb:Query'] })]),
      },
    });
    for (const tpl of allTemplates()) expect(JSON.stringify(tpl.Resources)).not.toMatch(/dynamodb:Scan|dynamodb:\*/);
  });

  it('the register function may describe instances and knows the fleet role names and tags', () => {
    t('api').hasResourceProperties('AWS::Lambda::Function', {
      Environment: {
        Variables: Match.objectLike({
          LIGHTHOUSE_ROLE_NAME: 'NebulaGateway-eu-west-1-lighthouse-node',
          PROXY_ROLE_NAME: 'NebulaGateway-eu-west-1-proxy-node',
          FLEET_TAG_NETWORK: 'nebula-gateway:network=NebulaGateway',
          FLEET_TAG_ROLE: 'nebula-gateway:role',
        }),
      },
    });
    t('api').hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^ApiNodeRegisterRole') }],
      PolicyDocument: { Statement: Match.arrayWith([Match.objectLike({ Action: 'ec2:DescribeInstances', Resource: '*' })]) },
    });
  });
});

describe('API Gateway', () => {
  /** `METHOD /path` → authorization type, from the template's resources and methods. */
  function methodAuth(): Record<string, string> {
    const tpl = t('api').toJSON() as { Resources: Resources };
    const paths = new Map<string, string>();
    const pathOf = (ref: unknown): string => {
      if (typeof ref === 'object' && ref && 'Fn::GetAtt' in ref) return '';
      const id = (ref as { Ref: string }).Ref;
      if (!paths.has(id)) {
        const res = tpl.Resources[id];
        paths.set(id, `${pathOf(res.Properties!.ParentId)}/${res.Properties!.PathPart}`);
      }
      return paths.get(id)!;
    };
    const out: Record<string, string> = {};
    for (const res of Object.values(tpl.Resources)) {
      if (res.Type !== 'AWS::ApiGateway::Method') continue;
      out[`${res.Properties!.HttpMethod} ${pathOf(res.Properties!.ResourceId)}`] = res.Properties!.AuthorizationType;
    }
    return out;
  }

  it('serves exactly the v1 routes, IAM on admin and node routes, NONE on the rest', () => {
    expect(methodAuth()).toEqual({
      'GET /healthz': 'NONE',
      'GET /v1/bootstrap': 'NONE',
      'GET /v1/agent/{file}': 'NONE',
      'GET /v1/network': 'NONE',
      'POST /v1/enroll': 'NONE',
      'POST /v1/hosts': 'AWS_IAM',
      'GET /v1/hosts': 'AWS_IAM',
      'GET /v1/hosts/{id}': 'AWS_IAM',
      'DELETE /v1/hosts/{id}': 'AWS_IAM',
      'PATCH /v1/hosts/{id}': 'AWS_IAM',
      'GET /v1/hosts/{id}/config': 'NONE',
      'POST /v1/hosts/{id}/renew': 'NONE',
      'POST /v1/network/ca-rotation': 'AWS_IAM',
      'POST /v1/hosts/{id}/certificate-in-use': 'NONE',
      'POST /v1/nodes/register': 'AWS_IAM',
      'PUT /v1/hosts/{id}/ports/{port}': 'AWS_IAM',
      'DELETE /v1/hosts/{id}/ports/{port}': 'AWS_IAM',
      'POST /v1/access-tokens': 'AWS_IAM',
      'GET /v1/routes': 'NONE',
      'PUT /v1/network/egress-routes': 'AWS_IAM',
      'GET /v1/egress-policies/{organization}': 'AWS_IAM',
      'PUT /v1/egress-policies/{organization}': 'AWS_IAM',
      'GET /v1/egress/rules': 'NONE',
    });
    // Every route of the construct's table is a method: none is left out of the API.
    expect(ROUTES).toHaveLength(Object.keys(methodAuth()).length);
  });

  it('sends the admin port and token routes to host-admin and the route table to host-config', () => {
    const fnFor = (method: string, path: string) => ROUTES.find((r) => r.method === method && r.path === path)?.fn;
    expect(fnFor('PUT', '/v1/hosts/{id}/ports/{port}')).toBe('hostAdmin');
    expect(fnFor('DELETE', '/v1/hosts/{id}/ports/{port}')).toBe('hostAdmin');
    expect(fnFor('POST', '/v1/access-tokens')).toBe('hostAdmin');
    expect(fnFor('GET', '/v1/routes')).toBe('hostConfig');
    const tpl = t('api').toJSON() as { Resources: Resources };
    const routesResource = Object.entries(tpl.Resources).find(([, r]) => r.Type === 'AWS::ApiGateway::Resource' && r.Properties!.PathPart === 'routes')![0];
    const method = Object.values(tpl.Resources).find((r) => r.Type === 'AWS::ApiGateway::Method' && r.Properties!.ResourceId.Ref === routesResource)!;
    expect(JSON.stringify(method.Properties!.Integration.Uri)).toMatch(/HostConfigFunction/);
  });

  it('throttles every method and writes access logs', () => {
    t('api').hasResourceProperties('AWS::ApiGateway::Stage', {
      StageName: 'api',
      AccessLogSetting: { DestinationArn: Match.anyValue(), Format: Match.stringLikeRegexp('requestId') },
      MethodSettings: [Match.objectLike({ HttpMethod: '*', ResourcePath: '/*', ThrottlingRateLimit: 50, ThrottlingBurstLimit: 100 })],
    });
    const stage = Object.values(resources('api', 'AWS::ApiGateway::Stage'))[0];
    expect(JSON.stringify(stage.Properties!.AccessLogSetting.DestinationArn)).toMatch(/"ApiAccessLogs[0-9A-F]{8}"/);
  });
});

describe('gateway server (ECS Fargate)', () => {
  it('runs in private subnets with a /healthz health check and a rolling-back circuit breaker', () => {
    t('server').hasResourceProperties('AWS::ECS::Service', {
      LaunchType: 'FARGATE',
      DeploymentConfiguration: Match.objectLike({ DeploymentCircuitBreaker: { Enable: true, Rollback: true } }),
      NetworkConfiguration: { AwsvpcConfiguration: Match.objectLike({ AssignPublicIp: 'DISABLED' }) },
      ServiceRegistries: [Match.objectLike({ RegistryArn: Match.anyValue() })],
    });
    t('server').hasResourceProperties('AWS::ECS::TaskDefinition', {
      RuntimePlatform: { CpuArchitecture: 'ARM64', OperatingSystemFamily: 'LINUX' },
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([{ Name: 'PORT', Value: '8080' }]),
          HealthCheck: Match.objectLike({ Command: Match.arrayWith([Match.stringLikeRegexp('/healthz')]) }),
          PortMappings: [Match.objectLike({ ContainerPort: 8080 })],
        }),
      ],
    });
  });

  it('may publish the CA expiry metric into its own namespace only, and knows where', () => {
    t('server').hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [
        Match.objectLike({
          Environment: Match.arrayWith([
            { Name: 'CA_EXPIRY_METRIC_NAMESPACE', Value: 'NebulaGateway' },
            { Name: 'CA_EXPIRY_METRIC_NETWORK', Value: 'NebulaGateway' },
          ]),
        }),
      ],
    });
    const put = Object.values(resources('server', 'AWS::IAM::Policy'))
      .flatMap((p) => p.Properties!.PolicyDocument.Statement as Record<string, unknown>[])
      .filter((s) => s.Action === 'cloudwatch:PutMetricData');
    expect(put).toEqual([{ Action: 'cloudwatch:PutMetricData', Effect: 'Allow', Resource: '*', Condition: { StringEquals: { 'cloudwatch:namespace': 'NebulaGateway' } } }]);
  });

  it('accepts port 8080 from the two fleets and the proxy NLB only (rules owned by the server stack, groups read from SSM)', () => {
    const parameters = t('server').toJSON().Parameters as Record<string, { Default?: string }>;
    const parameterRef = (name: string) => ({ Ref: Object.entries(parameters).find(([, p]) => p.Default === name)![0] });
    const ingress = Object.values(resources('server', 'AWS::EC2::SecurityGroupIngress'));
    expect(ingress.map((r) => r.Properties!.SourceSecurityGroupId)).toEqual(
      ['lighthouse', 'proxy', 'load-balancer'].map((group) => parameterRef(`/NebulaGateway/fleets/${group}-security-group-id`)),
    );
    for (const rule of ingress) {
      expect(rule.Properties).toMatchObject({ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, GroupId: { 'Fn::GetAtt': [expect.stringMatching(/^ServerSecurityGroup/), 'GroupId'] } });
      expect(rule.Properties!.CidrIp).toBeUndefined();
    }
    // The NLB's group has no default egress: its way to the tasks is this one rule.
    expect(Object.values(resources('server', 'AWS::EC2::SecurityGroupEgress')).map((r) => r.Properties)).toEqual([
      expect.objectContaining({
        GroupId: parameterRef('/NebulaGateway/fleets/load-balancer-security-group-id'),
        DestinationSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^ServerSecurityGroup/), 'GroupId'] },
        IpProtocol: 'tcp',
        FromPort: 8080,
        ToPort: 8080,
      }),
    ]);
    expect(JSON.stringify(resources('server', 'AWS::EC2::SecurityGroup'))).not.toContain('SecurityGroupIngress');
    expect(Object.values(resources('fleets', 'AWS::EC2::SecurityGroupIngress')).filter((r) => r.Properties!.FromPort === 8080)).toEqual([]);
  });

  it('runs two tasks by default, spread over the AZs and rebalanced after an AZ recovers', () => {
    t('server').resourceCountIs('AWS::ECS::Service', 1);
    const [service] = Object.values(resources('server', 'AWS::ECS::Service'));
    expect(service.Properties).toMatchObject({ DesiredCount: 2, AvailabilityZoneRebalancing: 'ENABLED' });
    // One private subnet per AZ (the config's maxAzs: 2).
    expect(service.Properties!.NetworkConfiguration.AwsvpcConfiguration.Subnets).toHaveLength(2);
  });
});

describe('fleets', () => {
  const groups = () => Object.entries(resources('fleets', 'AWS::AutoScaling::AutoScalingGroup'));
  const group = (prefix: string) => groups().find(([id]) => id.startsWith(prefix))![1];

  it('lighthouses: fixed size, ≥ 2 AZs (public subnets), launch template with public IPs and IMDSv2, rolling updates on signals', () => {
    const lh = group('Lighthouses');
    expect(lh.Properties).toMatchObject({ MinSize: '2', MaxSize: '2', LaunchTemplate: expect.anything() });
    expect(lh.Properties!.VPCZoneIdentifier.length).toBeGreaterThanOrEqual(2);
    expect(lh.UpdatePolicy).toEqual({
      AutoScalingRollingUpdate: expect.objectContaining({ MaxBatchSize: 1, MinInstancesInService: 1, WaitOnResourceSignals: true }),
      AutoScalingScheduledAction: { IgnoreUnmodifiedGroupSizeProperties: true },
    });
    expect(lh.CreationPolicy).toEqual({ ResourceSignal: { Count: 2, Timeout: 'PT15M' } });
    t('fleets').hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({
        NetworkInterfaces: [Match.objectLike({ AssociatePublicIpAddress: true })],
        MetadataOptions: Match.objectLike({ HttpTokens: 'required' }),
        BlockDeviceMappings: [Match.objectLike({ Ebs: Match.objectLike({ Encrypted: true }) })],
      }),
    });
  });

  it('proxies: configured sizes in private subnets, registered with the NLB target group', () => {
    const px = group('Proxies');
    expect(px.Properties).toMatchObject({ MinSize: '2', MaxSize: '5', TargetGroupARNs: [expect.anything()] });
    expect(px.Properties!.VPCZoneIdentifier.length).toBeGreaterThanOrEqual(2);
    expect(px.UpdatePolicy).toMatchObject({ AutoScalingRollingUpdate: expect.objectContaining({ MaxBatchSize: 1, WaitOnResourceSignals: true }) });
  });

  it('instances carry the fleet tags and fixed-name roles that may only call the register route', () => {
    for (const [prefix, role] of [['Lighthouses', 'lighthouse'], ['Proxies', 'proxy']] as const) {
      expect(group(prefix).Properties!.Tags).toEqual(
        expect.arrayContaining([
          { Key: 'nebula-gateway:network', PropagateAtLaunch: true, Value: 'NebulaGateway' },
          { Key: 'nebula-gateway:role', PropagateAtLaunch: true, Value: role },
        ]),
      );
      t('fleets').hasResourceProperties('AWS::IAM::Role', { RoleName: fleetRoleName({ name: 'NebulaGateway' }, 'eu-west-1', role) });
    }
    expect(fleetRoleName({ name: 'NebulaGateway' }, 'eu-west-1', 'lighthouse')).toBe('NebulaGateway-eu-west-1-lighthouse-node');
    // The register route's ARN comes from the Api stack through SSM (a template parameter).
    const invokes = Object.values(resources('fleets', 'AWS::IAM::Policy'))
      .flatMap((p) => p.Properties!.PolicyDocument.Statement as { Action: string; Resource: unknown }[])
      .filter((s) => s.Action === 'execute-api:Invoke');
    expect(invokes).toHaveLength(2);
    for (const s of invokes) expect(s.Resource).toEqual({ Ref: expect.stringMatching(/^SsmParameterValueNebulaGatewayapiregisterroutearn/) });
    expect(JSON.stringify(t('api').toJSON().Resources)).toMatch(/"\/api\/POST\/v1\/nodes\/register"/);
  });

  it('security groups: lighthouses UDP 4242 from anywhere; proxies TCP 443 from the NLB only; NLB 443 from anywhere', () => {
    t('fleets').hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('lighthouses'),
      SecurityGroupIngress: [{ CidrIp: '0.0.0.0/0', IpProtocol: 'udp', FromPort: 4242, ToPort: 4242, Description: Match.anyValue() }],
    });
    t('fleets').hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('proxy NLB'),
      SecurityGroupIngress: [
        { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: Match.anyValue() },
        { CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 8443, ToPort: 8443, Description: Match.anyValue() },
      ],
    });
    const proxyIngress = Object.values(resources('fleets', 'AWS::EC2::SecurityGroupIngress')).filter((r) => r.Properties!.FromPort === 443);
    expect(proxyIngress).toEqual([
      expect.objectContaining({
        Properties: expect.objectContaining({
          IpProtocol: 'tcp',
          ToPort: 443,
          SourceSecurityGroupId: { 'Fn::GetAtt': [expect.stringMatching(/^ProxiesLoadBalancerSecurityGroup/), 'GroupId'] },
        }),
      }),
    ]);
  });

  it('the NLB passes TCP 443 through to the proxies and checks that `gateway proxy` answers HTTPS', () => {
    t('fleets').hasResourceProperties('AWS::ElasticLoadBalancingV2::LoadBalancer', { Scheme: 'internet-facing', Type: 'network' });
    t('fleets').hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', { Port: 443, Protocol: 'TCP' });
    t('fleets').hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 443,
      Protocol: 'TCP',
      HealthCheckProtocol: 'HTTPS',
      HealthCheckPath: '/',
      Matcher: { HttpCode: '200-499' },
      TargetType: 'instance',
      // The proxies count limits per client address: the NLB must not put its own in its place.
      TargetGroupAttributes: Match.arrayWith([{ Key: 'preserve_client_ip.enabled', Value: 'true' }]),
    });
  });

  it('proxies run `gateway proxy` with the TLS secret, the token public key and their own route table', () => {
    const templates = Object.entries(resources('fleets', 'AWS::EC2::LaunchTemplate'));
    const userData = (prefix: string) => JSON.stringify(templates.find(([id]) => id.startsWith(prefix))![1].Properties!.LaunchTemplateData.UserData);
    const proxy = userData('Proxies');
    for (const needle of [
      'nebula-gateway-proxy.service',
      'v1/network | jq -er .accessTokenPublicKey',
      'http://server.nebulagateway.internal:8080/v1/routes?host=$host_id',
      'GATEWAY_ROUTES_TOKEN=$(</run/nebula-gateway-proxy/routes-token)',
      'jq -er .credential /var/lib/nebula-gateway/agent.json',
      `gateway.js proxy --domain dev.acme-corp.io --tls-secret ${TLS_SECRET_ARN}`,
      '--token-public-key /run/nebula-gateway-proxy/token.pub --routes \\"$routes_url\\"',
      'systemctl enable --now nebula-gateway-proxy.service',
    ]) {
      expect(proxy).toContain(needle);
    }
    // The proxy reads the secret itself (and again every 15 min): the boot script never touches the key.
    expect(proxy).not.toContain('jq -er .privateKey');
    expect(userData('Lighthouses')).not.toContain('gateway.js proxy');
  });

  it('the proxy role may read exactly the TLS secret; nothing else may', () => {
    const readers = Object.values(resources('fleets', 'AWS::IAM::Policy'))
      .flatMap((p) => (p.Properties!.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]).map((s) => ({ s, roles: p.Properties!.Roles })))
      .filter(({ s }) => [s.Action].flat().includes('secretsmanager:GetSecretValue'));
    expect(readers).toEqual([{ s: expect.objectContaining({ Resource: TLS_SECRET_ARN }), roles: [{ Ref: expect.stringMatching(/^ProxiesRole/) }] }]);
  });

  it('DNS: lighthouse-N on one Elastic IP each, *.domain aliased to the NLB', () => {
    t('fleets').resourceCountIs('AWS::EC2::EIP', 2);
    for (const n of [1, 2]) {
      t('fleets').hasResourceProperties('AWS::Route53::RecordSet', {
        Name: `lighthouse-${n}.dev.acme-corp.io.`,
        Type: 'A',
        ResourceRecords: [{ Ref: Match.stringLikeRegexp(`^LighthousesAddress${n}`) }],
      });
    }
    t('fleets').hasResourceProperties('AWS::Route53::RecordSet', {
      Name: '*.dev.acme-corp.io.',
      Type: 'A',
      AliasTarget: Match.objectLike({ DNSName: Match.anyValue() }),
    });
  });

  it('user data installs nebula and the agent, registers through /v1/nodes/register, then runs the agent against the in-VPC server', () => {
    const userData = JSON.stringify(
      Object.values(resources('fleets', 'AWS::EC2::LaunchTemplate')).map((lt) => lt.Properties!.LaunchTemplateData.UserData),
    );
    for (const needle of [
      'releases/download/v1.6.1/nebula-linux-arm64.tar.gz',
      'sha256sum -c',
      'nebula-cert keygen',
      '--aws-sigv4',
      'v1/nodes/register',
      'nebula-gateway-agent.service',
      'agent run --dir /var/lib/nebula-gateway --nebula /usr/local/bin/nebula',
      '--arg api http://server.nebulagateway.internal:8080',
      'systemctl enable --now',
      'associate-address',
      'cfn-signal',
    ]) {
      expect(userData).toContain(needle);
    }
  });
});

describe('watch endpoint (https://watch.<domain>:8443 on the proxies\' NLB, forwarded to the server tasks)', () => {
  const functionsWith = (variable: string) =>
    Object.entries(resources('api', 'AWS::Lambda::Function'))
      .filter(([, fn]) => fn.Properties!.Environment?.Variables?.[variable] !== undefined)
      .map(([, fn]) => ({ entry: fn.Properties!.Description as string, value: fn.Properties!.Environment.Variables[variable] }));

  it('a TLS listener on 8443 of the one NLB, with the watch certificate and a TLS 1.2+ policy, forwarding to the watch target group', () => {
    t('fleets').resourceCountIs('AWS::ElasticLoadBalancingV2::LoadBalancer', 1);
    const [nlb] = Object.keys(resources('fleets', 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
    const [certificate] = Object.keys(resources('fleets', 'AWS::CertificateManager::Certificate'));
    const [targets] = Object.entries(resources('fleets', 'AWS::ElasticLoadBalancingV2::TargetGroup')).find(([, tg]) => tg.Properties!.Port === 8080)!;
    t('fleets').hasResourceProperties('AWS::ElasticLoadBalancingV2::Listener', {
      LoadBalancerArn: { Ref: nlb },
      Port: 8443,
      Protocol: 'TLS',
      Certificates: [{ CertificateArn: { Ref: certificate } }],
      SslPolicy: 'ELBSecurityPolicy-TLS13-1-2-2021-06',
      DefaultActions: [{ Type: 'forward', TargetGroupArn: { Ref: targets } }],
    });
  });

  it('the certificate names watch.<domain> and is validated by DNS in the stack\'s zone', () => {
    t('fleets').resourceCountIs('AWS::CertificateManager::Certificate', 1);
    t('fleets').hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'watch.dev.acme-corp.io',
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'watch.dev.acme-corp.io', HostedZoneId: Match.anyValue() }],
    });
  });

  it('the target group holds the server tasks by IP on 8080 and checks GET /healthz; the server service registers in it', () => {
    t('fleets').hasResourceProperties('AWS::ElasticLoadBalancingV2::TargetGroup', {
      Port: 8080,
      Protocol: 'TCP',
      TargetType: 'ip',
      HealthCheckProtocol: 'HTTP',
      HealthCheckPath: '/healthz',
    });
    const [arn] = Object.values(resources('fleets', 'AWS::SSM::Parameter')).filter((p) => p.Properties!.Name === '/NebulaGateway/fleets/watch-target-group-arn');
    const [targets] = Object.entries(resources('fleets', 'AWS::ElasticLoadBalancingV2::TargetGroup')).find(([, tg]) => tg.Properties!.Port === 8080)!;
    expect(arn.Properties!.Value).toEqual({ Ref: targets });
    t('server').hasResourceProperties('AWS::ECS::Service', {
      LoadBalancers: [Match.objectLike({ ContainerName: 'Server', ContainerPort: 8080 })],
      HealthCheckGracePeriodSeconds: Match.anyValue(),
    });
  });

  it('watch.<domain> is an alias of the NLB', () => {
    const [nlb] = Object.keys(resources('fleets', 'AWS::ElasticLoadBalancingV2::LoadBalancer'));
    t('fleets').hasResourceProperties('AWS::Route53::RecordSet', {
      Name: 'watch.dev.acme-corp.io.',
      Type: 'A',
      AliasTarget: Match.objectLike({ DNSName: Match.objectLike({ 'Fn::Join': Match.arrayWith([Match.arrayWith([{ 'Fn::GetAtt': [nlb, 'DNSName'] }])]) }) }),
    });
  });

  it('GATEWAY_WATCH_URL is on exactly the enroll, host-config and node-register functions and on the server task', () => {
    const url = 'https://watch.dev.acme-corp.io:8443';
    const withUrl = functionsWith('GATEWAY_WATCH_URL');
    expect(withUrl.map((f) => f.value)).toEqual([url, url, url]);
    expect(withUrl.map((f) => f.entry.split(' ')[0]).sort()).toEqual(['GET', 'POST', 'POST']);
    expect(withUrl.map((f) => f.entry).sort()).toEqual([
      expect.stringContaining('GET /v1/hosts/{id}/config'),
      expect.stringContaining('POST /v1/enroll'),
      expect.stringContaining('POST /v1/nodes/register'),
    ]);
    t('server').hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: [Match.objectLike({ Environment: Match.arrayWith([{ Name: 'GATEWAY_WATCH_URL', Value: url }]) })],
    });
    expect(JSON.stringify(t('fleets').toJSON())).not.toContain('GATEWAY_WATCH_URL');
  });

  it('the created VPC has a DynamoDB gateway endpoint on its route tables', () => {
    t('network').resourceCountIs('AWS::EC2::VPCEndpoint', 1);
    const [endpoint] = Object.values(resources('network', 'AWS::EC2::VPCEndpoint'));
    expect(endpoint.Properties).toMatchObject({ VpcEndpointType: 'Gateway', ServiceName: expect.objectContaining({ 'Fn::Join': ['', ['com.amazonaws.', expect.anything(), '.dynamodb']] }) });
    // The private subnets' route tables (where the tasks run) are among them.
    const routeTables = Object.keys(resources('network', 'AWS::EC2::RouteTable'));
    const privateTables = routeTables.filter((id) => id.includes('private'));
    expect(privateTables).toHaveLength(2);
    for (const id of privateTables) expect(endpoint.Properties!.RouteTableIds).toContainEqual({ Ref: id });
  });
});

describe('outputs', () => {
  it('exports each public value under a stable name', () => {
    const exported = new Map<string, unknown>();
    for (const tpl of allTemplates()) {
      for (const out of Object.values(tpl.Outputs ?? {})) if (out.Export) exported.set(out.Export.Name, out.Value);
    }
    for (const name of EXPORTED_OUTPUTS) expect(exported.has(`NebulaGateway-${name}`)).toBe(true);
    expect(exported.get('NebulaGateway-OverlayCidr')).toBe('100.100.0.0/16');
    expect(exported.get('NebulaGateway-ProxyDomain')).toBe('dev.acme-corp.io');
    expect(exported.get('NebulaGateway-LighthouseNames')).toBe('lighthouse-1.dev.acme-corp.io,lighthouse-2.dev.acme-corp.io');
    expect(exported.get('NebulaGateway-ServerEndpoint')).toBe('http://server.nebulagateway.internal:8080');
    expect(exported.get('NebulaGateway-CaFingerprint')).toEqual({ 'Fn::GetAtt': [expect.stringMatching(/^NetworkCaRecord/), 'Fingerprint'] });
  });

  it('the stateless stacks reference the state stack weakly (no Fn::ImportValue lock)', () => {
    for (const name of ['api', 'server', 'fleets'] as const) {
      expect(JSON.stringify(t(name).toJSON())).not.toContain('Fn::ImportValue');
    }
    expect(JSON.stringify(t('api').toJSON())).toContain('Fn::GetStackOutput');
  });
});

describe('logical ids of stateful resources', () => {
  // A new logical ID would replace the table or a key (data loss) or the hosted zone (new name servers).
  it('keeps the table, the keys and the hosted zone under fixed logical IDs', () => {
    expect(Object.keys(t('state').toJSON().Resources)).toEqual(
      expect.arrayContaining(['TableCD117FA1', 'CaKeyB5ADE1BE', 'AccessTokenKeyEC302937', 'HostedZoneDB99F866']),
    );
  });
});

describe('API Gateway account logging, resource policy, own errors', () => {
  it('creates the account-level CloudWatch Logs role (retained) so stage logging can be on', () => {
    t('api').hasResource('AWS::ApiGateway::Account', {
      DeletionPolicy: 'Retain',
      UpdateReplacePolicy: 'Retain',
      Properties: { CloudWatchRoleArn: { 'Fn::GetAtt': [Match.stringLikeRegexp('CloudWatchRole'), 'Arn'] } },
    });
    t('api').hasResource('AWS::IAM::Role', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ AssumeRolePolicyDocument: Match.objectLike({ Statement: [Match.objectLike({ Principal: { Service: 'apigateway.amazonaws.com' } })] }) }),
    });
    // The stage waits for the account setting, else API Gateway refuses its logging settings.
    const stage = Object.values(resources('api', 'AWS::ApiGateway::Stage'))[0] as { DependsOn?: string[]; Properties: Record<string, any> };
    expect(stage.DependsOn).toEqual(expect.arrayContaining([expect.stringMatching(/Account/)]));
    expect(stage.Properties.MethodSettings).toEqual([expect.objectContaining({ LoggingLevel: 'ERROR', DataTraceEnabled: false })]);
    expect(stage.Properties.TracingEnabled).toBe(true);
  });

  /** The RestApi's resource policy statements, by Sid. */
  const policy = () => {
    const api = Object.values(resources('api', 'AWS::ApiGateway::RestApi'))[0];
    return Object.fromEntries((api.Properties!.Policy.Statement as { Sid: string }[]).map((s) => [s.Sid, s as Record<string, any>]));
  };
  const arnPattern = (resource: unknown) => {
    expect(resource).toEqual(expect.stringMatching(/^arn:aws:execute-api:eu-west-1:111122223333:\*\//));
    return (resource as string).replace(/^arn:aws:execute-api:eu-west-1:111122223333:\*\//, '');
  };

  it('resource policy: the admin routes only to the admin roles and their sessions', () => {
    const { Routes, AdminRoutesOnlyToAdmins: admin } = policy();
    expect(Routes).toMatchObject({ Effect: 'Allow', Principal: { AWS: '*' }, Action: 'execute-api:Invoke' });
    expect(admin).toMatchObject({ Effect: 'Deny', Principal: { AWS: '*' }, Action: 'execute-api:Invoke' });
    expect(admin.Condition.ArnNotLike['aws:PrincipalArn']).toEqual([
      ADMIN_ROLE_ARN,
      'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/*',
      'arn:aws:iam::444455556666:role/platform/GatewayOperator',
      'arn:aws:sts::444455556666:assumed-role/GatewayOperator/*',
    ]);
    // Denied everywhere except the open routes and registration: so every admin route.
    expect((admin.NotResource as unknown[]).map(arnPattern).sort()).toEqual(
      ['api/GET/healthz', 'api/GET/v1/bootstrap', 'api/GET/v1/agent/*', 'api/GET/v1/hosts/*/config', 'api/GET/v1/network', 'api/GET/v1/routes', 'api/POST/v1/enroll', 'api/POST/v1/hosts/*/renew', 'api/POST/v1/hosts/*/certificate-in-use', 'api/POST/v1/nodes/register', 'api/GET/v1/egress/rules'].sort(),
    );
  });

  it('resource policy: node registration only to the two fleet roles', () => {
    const { RegistrationOnlyToFleets: register } = policy();
    expect(register).toMatchObject({ Effect: 'Deny', Action: 'execute-api:Invoke' });
    expect([register.Resource].flat().map(arnPattern)).toEqual(['api/POST/v1/nodes/register']);
    expect(register.Condition.ArnNotLike['aws:PrincipalArn']).toEqual([
      'arn:aws:iam::111122223333:role/NebulaGateway-eu-west-1-lighthouse-node',
      'arn:aws:sts::111122223333:assumed-role/NebulaGateway-eu-west-1-lighthouse-node/*',
      'arn:aws:iam::111122223333:role/NebulaGateway-eu-west-1-proxy-node',
      'arn:aws:sts::111122223333:assumed-role/NebulaGateway-eu-west-1-proxy-node/*',
    ]);
  });

  it('host-admin (the only function behind admin routes) knows the admin roles', () => {
    const withAdmins = Object.entries(resources('api', 'AWS::Lambda::Function')).filter(([, fn]) => 'GATEWAY_ADMIN_ROLE_ARNS' in fn.Properties!.Environment.Variables);
    expect(withAdmins.map(([id]) => id)).toEqual([expect.stringMatching(/^ApiHostAdminFunction/)]);
    expect(withAdmins[0][1].Properties!.Environment.Variables.GATEWAY_ADMIN_ROLE_ARNS).toBe(
      `${ADMIN_ROLE_ARN},arn:aws:iam::444455556666:role/platform/GatewayOperator`,
    );
  });

  it("API Gateway's own errors (denied, throttled, bad signature, defaults) are application/problem+json", () => {
    const responses = Object.values(resources('api', 'AWS::ApiGateway::GatewayResponse'));
    const types = responses.map((r) => r.Properties!.ResponseType);
    expect(types).toEqual(expect.arrayContaining(['DEFAULT_4XX', 'DEFAULT_5XX', 'ACCESS_DENIED', 'THROTTLED', 'MISSING_AUTHENTICATION_TOKEN', 'INVALID_SIGNATURE']));
    for (const response of responses) {
      expect(response.Properties!.ResponseParameters).toEqual({ 'gatewayresponse.header.Content-Type': "'application/problem+json'" });
      const template = response.Properties!.ResponseTemplates['application/json'] as string;
      // Valid JSON once API Gateway substitutes its (already quoted) message and the request id.
      const body = JSON.parse(template.replace('$context.error.messageString', '"Forbidden"').replace('$context.requestId', 'req-1'));
      expect(body).toMatchObject({ type: expect.stringMatching(/^urn:nebula-gateway:problem:/), title: expect.any(String), detail: 'Forbidden' });
    }
    // The same type namespace as the API's own problems.
    expect(new ApiProblem(403, 'forbidden', 'Forbidden', 'x').toDetails().type).toBe(`${PROBLEM_TYPE_BASE}forbidden`);
    const throttled = responses.find((r) => r.Properties!.ResponseType === 'THROTTLED')!;
    expect(JSON.parse(throttled.Properties!.ResponseTemplates['application/json'].replace('$context.error.messageString', '""'))).toMatchObject({ status: 429 });
  });
});

describe('fleet instances', () => {
  it('may read only the agent bundle object, not list or read the asset bucket', () => {
    const s3 = Object.values(resources('fleets', 'AWS::IAM::Policy'))
      .flatMap((p) => p.Properties!.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[])
      .filter((s) => JSON.stringify(s.Action).includes('s3:'));
    expect(s3).toHaveLength(2);
    for (const statement of s3) {
      expect(statement.Action).toBe('s3:GetObject');
      const resource = JSON.stringify(statement.Resource);
      expect(resource).toMatch(/:s3:::cdk-hnb659fds-assets-111122223333-eu-west-1\/[0-9a-f]{64}\.(js|zip)"/);
      expect(resource).not.toContain('/*');
    }
  });

  it('proxies are replaced on failed NLB health checks (after a boot grace period); lighthouses on EC2 checks', () => {
    const groups = Object.entries(resources('fleets', 'AWS::AutoScaling::AutoScalingGroup'));
    const group = (prefix: string) => groups.find(([id]) => id.startsWith(prefix))![1].Properties!;
    // ELB includes EC2's own status checks.
    expect(group('Proxies')).toMatchObject({ HealthCheckType: 'ELB', HealthCheckGracePeriod: 600 });
    expect(group('Lighthouses')).toMatchObject({ HealthCheckType: 'EC2', HealthCheckGracePeriod: 600 });
  });

  it('each group has a termination lifecycle hook (120 s, CONTINUE) that an EventBridge rule sends to node-lifecycle', () => {
    const hooks = Object.values(resources('fleets', 'AWS::AutoScaling::LifecycleHook'));
    expect(hooks.map((h) => h.Properties)).toEqual([
      expect.objectContaining({ AutoScalingGroupName: { Ref: expect.stringMatching(/^LighthousesGroupASG/) }, LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: 120, DefaultResult: 'CONTINUE' }),
      expect.objectContaining({ AutoScalingGroupName: { Ref: expect.stringMatching(/^ProxiesGroupASG/) }, LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING', HeartbeatTimeout: 120, DefaultResult: 'CONTINUE' }),
    ]);
    const rule = Object.values(resources('fleets', 'AWS::Events::Rule'))[0].Properties!;
    expect(rule.EventPattern).toEqual({
      source: ['aws.autoscaling'],
      'detail-type': ['EC2 Instance-terminate Lifecycle Action'],
      detail: { AutoScalingGroupName: [{ Ref: expect.stringMatching(/^LighthousesGroupASG/) }, { Ref: expect.stringMatching(/^ProxiesGroupASG/) }] },
    });
    expect(rule.Targets).toEqual([expect.objectContaining({ Arn: { 'Fn::GetAtt': [expect.stringMatching(/^NodeLifecycleHandlerFunction/), 'Arn'] } })]);
  });

  it('node-lifecycle: node-register\'s variables, read/write items, CompleteLifecycleAction on the two groups only', () => {
    const fn = Object.entries(resources('fleets', 'AWS::Lambda::Function')).find(([id]) => id.startsWith('NodeLifecycleHandler'))![1];
    const register = Object.entries(resources('api', 'AWS::Lambda::Function')).find(([id]) => id.startsWith('ApiNodeRegister'))![1];
    // node-lifecycle answers no agent, so it needs no watch URL.
    const names = (f: typeof fn) => Object.keys(f.Properties!.Environment.Variables).filter((k) => !k.startsWith('CA_KEY_') && k !== 'GATEWAY_WATCH_URL').sort();
    expect(names(fn)).toEqual(names(register));
    expect(fn.Properties!.Environment.Variables).toMatchObject({ LIGHTHOUSE_ROLE_NAME: 'NebulaGateway-eu-west-1-lighthouse-node', FLEET_TAG_ROLE: 'nebula-gateway:role' });
    const statements = Object.values(resources('fleets', 'AWS::IAM::Policy'))
      .filter((p) => (p.Properties!.Roles as { Ref: string }[]).some((r) => r.Ref.startsWith('NodeLifecycleHandlerRole')))
      .flatMap((p) => p.Properties!.PolicyDocument.Statement as { Action: string | string[]; Resource: unknown }[]);
    const complete = statements.find((s) => s.Action === 'autoscaling:CompleteLifecycleAction')!;
    expect(complete.Resource).toEqual([
      { 'Fn::Join': ['', ['arn:aws:autoscaling:eu-west-1:111122223333:autoScalingGroup:*:autoScalingGroupName/', { Ref: expect.stringMatching(/^LighthousesGroupASG/) }]] },
      { 'Fn::Join': ['', ['arn:aws:autoscaling:eu-west-1:111122223333:autoScalingGroup:*:autoScalingGroupName/', { Ref: expect.stringMatching(/^ProxiesGroupASG/) }]] },
    ]);
    expect(statements.find((s) => JSON.stringify(s.Action).includes('dynamodb:PutItem'))).toBeDefined();
  });
});

describe('alarms and dashboard', () => {
  const alarms = () => allTemplates().flatMap((tpl) => Object.values(tpl.Resources).filter((r) => r.Type === 'AWS::CloudWatch::Alarm'));
  const alarm = (name: string) => alarms().find((a) => a.Properties!.AlarmName === `NebulaGateway-${name}`)?.Properties;

  it('one SNS topic (fixed name, TLS only) with the configured e-mail; every alarm notifies it on alarm and on recovery', () => {
    t('monitoring').hasResourceProperties('AWS::SNS::Topic', { TopicName: 'NebulaGateway-alarms' });
    t('monitoring').hasResourceProperties('AWS::SNS::Subscription', { Protocol: 'email', Endpoint: 'platform-oncall@acme-corp.io' });
    expect(alarms().length).toBeGreaterThanOrEqual(20);
    for (const a of alarms()) {
      expect(a.Properties!.AlarmActions).toEqual(['arn:aws:sns:eu-west-1:111122223333:NebulaGateway-alarms']);
      expect(a.Properties!.OKActions).toEqual(['arn:aws:sns:eu-west-1:111122223333:NebulaGateway-alarms']);
    }
    for (const name of ['state', 'api', 'server', 'fleets'] as const) {
      expect(stacks[name].dependencies.map((d) => d.stackName)).toContain('NebulaGateway-Monitoring');
    }
  });

  it('watches the CA expiry, API 5xx and latency, every function, DynamoDB throttles, lighthouses, proxies and server tasks', () => {
    expect(alarm('ca-expiry')).toMatchObject({
      Namespace: 'NebulaGateway',
      MetricName: 'CaCertificateDaysToExpiry',
      Dimensions: [{ Name: 'Network', Value: 'NebulaGateway' }],
      Statistic: 'Minimum',
      ComparisonOperator: 'LessThanThreshold',
      Threshold: 60,
      TreatMissingData: 'breaching',
    });
    expect(alarm('api-5xx')).toMatchObject({ Namespace: 'AWS/ApiGateway', MetricName: '5XXError', Dimensions: expect.arrayContaining([{ Name: 'ApiName', Value: 'NebulaGateway-api' }]) });
    expect(alarm('api-enroll-latency')).toMatchObject({ MetricName: 'Latency', ExtendedStatistic: 'p99', Dimensions: expect.arrayContaining([{ Name: 'Resource', Value: '/v1/enroll' }]) });
    for (const fn of ['public', 'hostAdmin', 'enroll', 'hostConfig', 'nodeRegister', 'ca-init', 'node-lifecycle']) {
      expect([fn, alarm(`${fn}-errors`)?.MetricName, alarm(`${fn}-throttles`)?.MetricName]).toEqual([fn, 'Errors', 'Throttles']);
    }
    expect(JSON.stringify(alarm('table-throttles')!.Metrics)).toMatch(/ReadThrottleEvents[\s\S]*WriteThrottleEvents/);
    expect(alarm('lighthouses-in-service')).toMatchObject({ MetricName: 'GroupInServiceInstances', Threshold: 2, ComparisonOperator: 'LessThanThreshold' });
    expect(alarm('proxies-unhealthy')).toMatchObject({ Namespace: 'AWS/NetworkELB', MetricName: 'UnHealthyHostCount' });
    expect(alarm('server-tasks')).toMatchObject({ Namespace: 'ECS/ContainerInsights', MetricName: 'RunningTaskCount', Threshold: 2, ComparisonOperator: 'LessThanThreshold' });
  });

  it('the lighthouse group reports its in-service count (what the alarm reads)', () => {
    const lh = Object.entries(resources('fleets', 'AWS::AutoScaling::AutoScalingGroup')).find(([id]) => id.startsWith('Lighthouses'))![1];
    expect(lh.Properties!.MetricsCollection).toEqual([{ Granularity: '1Minute', Metrics: ['GroupInServiceInstances'] }]);
  });

  it('one dashboard shows every alarm, by name', () => {
    const dashboard = Object.values(resources('monitoring', 'AWS::CloudWatch::Dashboard'))[0];
    expect(dashboard.Properties!.DashboardName).toBe('NebulaGateway-Monitoring-eu-west-1');
    const body = JSON.stringify(dashboard.Properties!.DashboardBody);
    for (const a of alarms()) expect(body).toContain(`:alarm:${a.Properties!.AlarmName}`);
  });
});

describe('values the fleets read from the Api stack, and the server from the Fleets stack, at each deploy (SSM), not by cross-stack reference', () => {
  type Parameters = Record<string, { Type: string; Default?: string; Description?: string }>;
  const fleetParameters = () => t('fleets').toJSON().Parameters as Parameters;
  /** The fleets' template parameter that reads `name`, by logical id. */
  const parameterFor = (name: string) => {
    const found = Object.entries(fleetParameters()).filter(([, p]) => p.Default === name);
    expect(found).toHaveLength(1);
    return found[0];
  };

  it.each([
    ['apiUrl', 'api', 'fleets', '/NebulaGateway/api/url'],
    ['registerRouteArn', 'api', 'fleets', '/NebulaGateway/api/register-route-arn'],
    ['lighthouseSecurityGroupId', 'fleets', 'server', '/NebulaGateway/fleets/lighthouse-security-group-id'],
    ['proxySecurityGroupId', 'fleets', 'server', '/NebulaGateway/fleets/proxy-security-group-id'],
    ['loadBalancerSecurityGroupId', 'fleets', 'server', '/NebulaGateway/fleets/load-balancer-security-group-id'],
    ['watchTargetGroupArn', 'fleets', 'server', '/NebulaGateway/fleets/watch-target-group-arn'],
  ] as const)('%s: the %s stack writes it; the %s stack takes %s as an SSM parameter that `cdk deploy` always re-reads', (value, producer, consumer, name) => {
    expect(deployTimeParameterName({ name: 'NebulaGateway' }, value)).toBe(name);
    const written = Object.values(resources(producer, 'AWS::SSM::Parameter')).filter((p) => p.Properties!.Name === name);
    expect(written).toHaveLength(1);
    // The producer's live value: a reference to its resource, not a literal.
    expect(JSON.stringify(written[0].Properties!.Value)).toMatch(/"Ref"|"Fn::GetAtt"/);
    const found = Object.entries(t(consumer).toJSON().Parameters as Parameters).filter(([, p]) => p.Default === name);
    expect(found).toHaveLength(1);
    const [, parameter] = found[0];
    expect(parameter.Type).toBe('AWS::SSM::Parameter::Value<String>');
    // The CLI skips an unchanged stack unless it has SSM parameters without this marker.
    expect(parameter.Description ?? '').not.toContain(SSMPARAM_NO_INVALIDATE);
  });

  it('the consumers use the parameters: the instance roles, the user data; the server registers in the watch target group', () => {
    const serverParameters = Object.entries(t('server').toJSON().Parameters as Parameters);
    const [targets] = serverParameters.find(([, p]) => p.Default === '/NebulaGateway/fleets/watch-target-group-arn')!;
    t('server').hasResourceProperties('AWS::ECS::Service', { LoadBalancers: [{ TargetGroupArn: { Ref: targets }, ContainerName: 'Server', ContainerPort: 8080 }] });
    const [url] = parameterFor('/NebulaGateway/api/url');
    for (const lt of Object.values(resources('fleets', 'AWS::EC2::LaunchTemplate'))) {
      expect(JSON.stringify(lt.Properties!.LaunchTemplateData.UserData)).toContain(`{"Ref":"${url}"}`);
    }
    // Only the long-lived stacks (State, Network) are still read by reference.
    const referenced = new Set([...JSON.stringify(t('fleets').toJSON()).matchAll(/"Fn::GetStackOutput":\{"StackName":"([^"]+)"/g)].map((m) => m[1]));
    expect([...referenced].sort()).toEqual(['NebulaGateway-Network', 'NebulaGateway-State']);
    const serverReferenced = new Set([...JSON.stringify(t('server').toJSON()).matchAll(/"Fn::GetStackOutput":\{"StackName":"([^"]+)"/g)].map((m) => m[1]));
    expect([...serverReferenced].sort()).toEqual(['NebulaGateway-Network', 'NebulaGateway-State']);
  });

  it('a new producer value changes what CloudFormation applies: a new API URL is a new launch template version (the fleets roll)', () => {
    const [url] = parameterFor('/NebulaGateway/api/url');
    const lighthouse = Object.entries(resources('fleets', 'AWS::EC2::LaunchTemplate')).find(([id]) => id.startsWith('Lighthouses'))![1];
    const render = (apiUrl: string) => resolveIntrinsics(lighthouse.Properties!.LaunchTemplateData.UserData, { [url]: apiUrl });
    const before = render('https://old1234567.execute-api.eu-west-1.amazonaws.com/api/');
    const after = render('https://new7654321.execute-api.eu-west-1.amazonaws.com/api/');
    expect(before).not.toBe(after);
    expect(after).toContain('https://new7654321.execute-api.eu-west-1.amazonaws.com/api/v1/nodes/register');
    expect(after).not.toContain('old1234567');
  });

  it('cdk deploy --all deploys Api before Fleets, Fleets (the watch listener) before Server, and Monitoring first', () => {
    expect(stacks.fleets.dependencies.map((d) => d.stackName).sort()).toEqual(
      ['NebulaGateway-Api', 'NebulaGateway-Monitoring', 'NebulaGateway-Network', 'NebulaGateway-State'],
    );
    expect(stacks.server.dependencies.map((d) => d.stackName).sort()).toEqual(
      ['NebulaGateway-Fleets', 'NebulaGateway-Monitoring', 'NebulaGateway-Network', 'NebulaGateway-State'],
    );
    expect(stacks.monitoring.dependencies).toEqual([]);
  });
});
