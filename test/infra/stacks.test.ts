import { Match, Template } from 'aws-cdk-lib/assertions';
import { TABLE_SCHEMA } from '../../src/store/schema';
import { fleetRoleName } from '../../lib/config';
import { EXPORTED_OUTPUTS } from '../../lib/exports';
import { ROUTES } from '../../lib/constructs/gateway-api';
import type { GatewayStacks } from '../../lib/app';
import { buildTestApp } from './support/app';

const TLS_SECRET_ARN = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gateway/tls-AbCdEf';

// One synth for the whole file (cdk-nag AwsSolutionsChecks included: an unacknowledged finding
// makes app.synth() throw), then assertions on the templates.
let stacks: GatewayStacks;
const templates: Record<string, Template> = {};
const t = (name: keyof Omit<GatewayStacks, 'config'>) => templates[name];

beforeAll(() => {
  const built = buildTestApp({ domain: 'dev.example.com', lighthouses: { count: 2 }, proxies: { min: 2, max: 5, tlsSecretArn: TLS_SECRET_ARN } });
  stacks = built.stacks;
  built.app.synth();
  for (const name of ['network', 'state', 'api', 'server', 'fleets'] as const) {
    templates[name] = Template.fromStack(stacks[name]!);
  }
});

type Resources = Record<string, { Type: string; Properties?: Record<string, any>; [k: string]: unknown }>;
const resources = (name: keyof Omit<GatewayStacks, 'config'>, type: string): Resources =>
  t(name).findResources(type) as Resources;
const allTemplates = () => Object.values(templates).map((tpl) => tpl.toJSON() as { Resources: Resources; Outputs?: Record<string, any> });

describe('state stack', () => {
  it('keeps the table: TableV2 from TABLE_SCHEMA, on-demand, PITR, deletion protection, TTL, retained', () => {
    t('state').resourceCountIs('AWS::DynamoDB::GlobalTable', 1);
    t('state').hasResource('AWS::DynamoDB::GlobalTable', {
      DeletionPolicy: 'Retain',
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

  it('keeps the CA key in KMS: Ed25519, sign/verify, retained', () => {
    t('state').hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'Retain',
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' }),
    });
  });

  it('creates the CA through a custom resource backed by lambda/ca-init, and retains the hosted zone', () => {
    t('state').hasResourceProperties('Custom::NebulaCa', {
      ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('^NetworkCaInit'), 'Arn'] },
      OverlayCidr: '100.100.0.0/16',
      CaLifetimeDays: 3650,
    });
    t('state').hasResource('AWS::Route53::HostedZone', { DeletionPolicy: 'Retain', Properties: { Name: 'dev.example.com.' } });
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
      expect(key).toMatchObject({ DeletionPolicy: 'Retain', Properties: { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' } });
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
    for (const role of Object.values(resources('api', 'AWS::IAM::Role'))) {
      expect(role.Properties!.ManagedPolicyArns).toBeUndefined();
    }
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
          LIGHTHOUSE_ROLE_NAME: 'NebulaGateway-lighthouse-node',
          PROXY_ROLE_NAME: 'NebulaGateway-proxy-node',
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
      'GET /v1/network': 'NONE',
      'POST /v1/enroll': 'NONE',
      'POST /v1/hosts': 'AWS_IAM',
      'GET /v1/hosts': 'AWS_IAM',
      'GET /v1/hosts/{id}': 'AWS_IAM',
      'DELETE /v1/hosts/{id}': 'AWS_IAM',
      'GET /v1/hosts/{id}/config': 'NONE',
      'POST /v1/hosts/{id}/renew': 'NONE',
      'POST /v1/nodes/register': 'AWS_IAM',
      'PUT /v1/hosts/{id}/ports/{port}': 'AWS_IAM',
      'DELETE /v1/hosts/{id}/ports/{port}': 'AWS_IAM',
      'POST /v1/access-tokens': 'AWS_IAM',
      'GET /v1/routes': 'NONE',
    });
    expect(ROUTES).toHaveLength(14);
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

  it('accepts port 8080 from the two fleets only (rules owned by the fleets stack)', () => {
    const ingress = Object.values(resources('fleets', 'AWS::EC2::SecurityGroupIngress')).filter((r) => r.Properties!.FromPort === 8080);
    expect(ingress).toHaveLength(2);
    for (const rule of ingress) {
      expect(rule.Properties).toMatchObject({ IpProtocol: 'tcp', ToPort: 8080, SourceSecurityGroupId: expect.anything() });
      expect(rule.Properties!.CidrIp).toBeUndefined();
    }
    expect(JSON.stringify(resources('server', 'AWS::EC2::SecurityGroup'))).not.toContain('SecurityGroupIngress');
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
      t('fleets').hasResourceProperties('AWS::IAM::Role', { RoleName: fleetRoleName({ name: 'NebulaGateway' }, role) });
    }
    const invokes = Object.values(resources('fleets', 'AWS::IAM::Policy'))
      .flatMap((p) => p.Properties!.PolicyDocument.Statement as { Action: string; Resource: unknown }[])
      .filter((s) => s.Action === 'execute-api:Invoke');
    expect(invokes).toHaveLength(2);
    for (const s of invokes) expect(JSON.stringify(s.Resource)).toMatch(/"\/api\/POST\/v1\/nodes\/register"/);
  });

  it('security groups: lighthouses UDP 4242 from anywhere; proxies TCP 443 from the NLB only; NLB 443 from anywhere', () => {
    t('fleets').hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('lighthouses'),
      SecurityGroupIngress: [{ CidrIp: '0.0.0.0/0', IpProtocol: 'udp', FromPort: 4242, ToPort: 4242, Description: Match.anyValue() }],
    });
    t('fleets').hasResourceProperties('AWS::EC2::SecurityGroup', {
      GroupDescription: Match.stringLikeRegexp('proxy NLB'),
      SecurityGroupIngress: [{ CidrIp: '0.0.0.0/0', IpProtocol: 'tcp', FromPort: 443, ToPort: 443, Description: Match.anyValue() }],
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
    });
  });

  it('proxies run `gateway proxy` with the TLS secret, the token public key and their own route table', () => {
    const templates = Object.entries(resources('fleets', 'AWS::EC2::LaunchTemplate'));
    const userData = (prefix: string) => JSON.stringify(templates.find(([id]) => id.startsWith(prefix))![1].Properties!.LaunchTemplateData.UserData);
    const proxy = userData('Proxies');
    for (const needle of [
      'nebula-gateway-proxy.service',
      `--secret-id ${TLS_SECRET_ARN}`,
      'jq -er .certificate',
      'jq -er .privateKey',
      'v1/network | jq -er .accessTokenPublicKey',
      'http://server.nebulagateway.internal:8080/v1/routes?host=$host_id',
      'GATEWAY_ROUTES_TOKEN=',
      'jq -er .credential /var/lib/nebula-gateway/agent.json',
      'gateway.js proxy --domain dev.example.com --tls-cert /run/nebula-gateway-proxy/tls.crt',
      '--token-public-key /run/nebula-gateway-proxy/token.pub --routes ${GATEWAY_ROUTES_URL}',
      'systemctl enable --now nebula-gateway-proxy.service',
    ]) {
      expect(proxy).toContain(needle);
    }
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
        Name: `lighthouse-${n}.dev.example.com.`,
        Type: 'A',
        ResourceRecords: [{ Ref: Match.stringLikeRegexp(`^LighthousesAddress${n}`) }],
      });
    }
    t('fleets').hasResourceProperties('AWS::Route53::RecordSet', {
      Name: '*.dev.example.com.',
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

describe('outputs', () => {
  it('exports each public value under a stable name', () => {
    const exported = new Map<string, unknown>();
    for (const tpl of allTemplates()) {
      for (const out of Object.values(tpl.Outputs ?? {})) if (out.Export) exported.set(out.Export.Name, out.Value);
    }
    for (const name of EXPORTED_OUTPUTS) expect(exported.has(`NebulaGateway-${name}`)).toBe(true);
    expect(exported.get('NebulaGateway-OverlayCidr')).toBe('100.100.0.0/16');
    expect(exported.get('NebulaGateway-ProxyDomain')).toBe('dev.example.com');
    expect(exported.get('NebulaGateway-LighthouseNames')).toBe('lighthouse-1.dev.example.com,lighthouse-2.dev.example.com');
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
