import { Annotations, Match, Template } from 'aws-cdk-lib/assertions';
import { Bucket } from 'aws-cdk-lib/aws-s3';
import { ADMIN_ROLE_ARN, buildTestApp, MINIMAL_CONFIG } from './support/app';

// The other configuration branches: an imported hosted zone and VPC, the Secrets Manager CA key,
// x86 instances. One synth (cdk-nag included) for the describe block.
describe('imported zone and VPC, CA key in Secrets Manager', () => {
  let templates: Record<'state' | 'api' | 'fleets', Template>;
  let fleetAnnotations: Annotations;
  let hasNetworkStack: boolean;

  beforeAll(() => {
    const { app, stacks } = buildTestApp({
      name: 'DevMesh',
      admins: { roleArns: [ADMIN_ROLE_ARN] },
      domain: 'mesh.corp.acme-corp.io',
      hostedZone: { mode: 'import', id: 'Z0123456789ABCDEFGHIJ', name: 'corp.acme-corp.io' },
      vpc: {
        mode: 'import',
        vpcId: 'vpc-0123456789abcdef0',
        cidr: '172.31.0.0/16',
        availabilityZones: ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'],
        publicSubnetIds: ['subnet-0000000000000000a', 'subnet-0000000000000000b', 'subnet-0000000000000000c'],
        privateSubnetIds: ['subnet-1000000000000000a', 'subnet-1000000000000000b', 'subnet-1000000000000000c'],
      },
      region: 'eu-west-1',
      account: '111122223333',
      caKeyBackend: 'secret',
      lighthouses: { count: 3, instanceType: 't3.micro' },
    });
    app.synth();
    hasNetworkStack = stacks.network !== undefined;
    fleetAnnotations = Annotations.fromStack(stacks.fleets);
    templates = {
      state: Template.fromStack(stacks.state),
      api: Template.fromStack(stacks.api),
      fleets: Template.fromStack(stacks.fleets),
    };
  });

  it('creates no VPC and no hosted zone; records go into the imported zone', () => {
    expect(hasNetworkStack).toBe(false);
    expect(JSON.stringify(templates.fleets.toJSON())).not.toContain('AWS::EC2::VPC');
    templates.state.resourceCountIs('AWS::Route53::HostedZone', 0);
    templates.fleets.hasResourceProperties('AWS::Route53::RecordSet', { HostedZoneId: 'Z0123456789ABCDEFGHIJ', Name: '*.mesh.corp.acme-corp.io.' });
    templates.fleets.hasResourceProperties('AWS::Route53::RecordSet', { Name: 'lighthouse-3.mesh.corp.acme-corp.io.' });
    // The watch endpoint in the imported zone: its record, and its certificate validated there by DNS.
    templates.fleets.hasResourceProperties('AWS::Route53::RecordSet', { HostedZoneId: 'Z0123456789ABCDEFGHIJ', Name: 'watch.mesh.corp.acme-corp.io.' });
    templates.fleets.hasResourceProperties('AWS::CertificateManager::Certificate', {
      DomainName: 'watch.mesh.corp.acme-corp.io',
      ValidationMethod: 'DNS',
      DomainValidationOptions: [{ DomainName: 'watch.mesh.corp.acme-corp.io', HostedZoneId: 'Z0123456789ABCDEFGHIJ' }],
    });
    // The app adds no endpoint to a VPC it did not create (docs/deploy.md recommends one).
    expect(JSON.stringify(templates.fleets.toJSON())).not.toContain('AWS::EC2::VPCEndpoint');
    templates.fleets.hasResourceProperties('AWS::AutoScaling::AutoScalingGroup', {
      MinSize: '3',
      VPCZoneIdentifier: ['subnet-0000000000000000a', 'subnet-0000000000000000b', 'subnet-0000000000000000c'],
    });
  });

  it('keeps the CA and access token key seeds in retained secrets that only their signing functions may read', () => {
    templates.state.resourceCountIs('AWS::KMS::Key', 0);
    templates.state.resourceCountIs('AWS::SecretsManager::Secret', 2);
    templates.state.hasResource('AWS::SecretsManager::Secret', {
      DeletionPolicy: 'RetainExceptOnCreate',
      UpdateReplacePolicy: 'Retain',
      Properties: Match.objectLike({ GenerateSecretString: Match.objectLike({ PasswordLength: 64 }) }),
    });
    const readers = (key: RegExp) =>
      Object.values(templates.api.findResources('AWS::IAM::Policy'))
        .filter((p) =>
          (p.Properties.PolicyDocument.Statement as { Action: unknown; Resource: unknown }[]).some(
            (s) => JSON.stringify(s.Action).includes('secretsmanager:GetSecretValue') && key.test(JSON.stringify(s.Resource)),
          ),
        )
        .map((p) => (p.Properties.Roles as { Ref: string }[])[0].Ref)
        .sort();
    expect(readers(/CaKey/)).toEqual([expect.stringMatching(/^ApiEnrollRole/), expect.stringMatching(/^ApiNodeRegisterRole/)]);
    expect(readers(/AccessTokenKey/)).toEqual([expect.stringMatching(/^ApiHostAdminRole/)]);
    templates.api.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ TOKEN_KEY_BACKEND: 'secret' }) },
    });
    templates.api.hasResourceProperties('AWS::Lambda::Function', {
      Environment: { Variables: Match.objectLike({ CA_KEY_BACKEND: 'secret' }) },
    });
  });

  it('without proxies.tlsSecretArn: proxies run no `gateway proxy`, may read no secret, and synth warns', () => {
    const proxyTemplate = Object.entries(templates.fleets.findResources('AWS::EC2::LaunchTemplate')).find(([id]) => id.startsWith('Proxies'))!;
    expect(JSON.stringify(proxyTemplate[1])).toContain('nebula-gateway-agent.service');
    expect(JSON.stringify(proxyTemplate[1])).not.toContain('nebula-gateway-proxy.service');
    expect(JSON.stringify(templates.fleets.findResources('AWS::IAM::Policy'))).not.toContain('secretsmanager:GetSecretValue');
    fleetAnnotations.hasWarning('*', Match.stringLikeRegexp('gateway\\.proxies\\.tlsSecretArn is not set'));
  });

  it('uses x86 Amazon Linux and nebula for x86 on x86 instance types', () => {
    const parameters = Object.values(templates.fleets.toJSON().Parameters as Record<string, { Default: string }>).map((p) => p.Default);
    expect(parameters).toEqual(expect.arrayContaining([expect.stringMatching(/al2023-ami-kernel-[\d.]+-x86_64$/)]));
    templates.fleets.hasResourceProperties('AWS::EC2::LaunchTemplate', { LaunchTemplateData: Match.objectLike({ InstanceType: 't3.micro' }) });
    const lighthouseTemplate = Object.entries(templates.fleets.findResources('AWS::EC2::LaunchTemplate')).find(([id]) => id.startsWith('Lighthouses'))!;
    expect(JSON.stringify(lighthouseTemplate[1])).toContain('nebula-linux-amd64.tar.gz');
  });
});

describe('cdk-nag', () => {
  it('fails synth on an unacknowledged finding', () => {
    const { app, stacks } = buildTestApp(MINIMAL_CONFIG);
    new Bucket(stacks.api, 'UncheckedBucket');
    expect(() => app.synth()).toThrow(/AwsSolutions-S1[\s\S]*UncheckedBucket|UncheckedBucket[\s\S]*AwsSolutions-S1/);
  });
});

// The least a deploy needs (a domain, one admin; environment-agnostic): what `cdk synth` with a
// one-line -c gateway=... builds. One synth for the block.
describe('minimal configuration', () => {
  let fleets: Template;
  let api: Template;
  let monitoring: Template;

  beforeAll(() => {
    const { app, stacks } = buildTestApp(MINIMAL_CONFIG);
    app.synth();
    fleets = Template.fromStack(stacks.fleets);
    api = Template.fromStack(stacks.api);
    monitoring = Template.fromStack(stacks.monitoring);
  });

  it("puts the deploying region into the fleet role names, the same way in the roles and in node-register's check", () => {
    const name = (role: string) => ({ 'Fn::Join': ['', ['NebulaGateway-', { Ref: 'AWS::Region' }, `-${role}-node`]] });
    fleets.hasResourceProperties('AWS::IAM::Role', { RoleName: name('lighthouse') });
    fleets.hasResourceProperties('AWS::IAM::Role', { RoleName: name('proxy') });
    api.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ LIGHTHOUSE_ROLE_NAME: name('lighthouse'), PROXY_ROLE_NAME: name('proxy') }) } });
  });

  it('without a TLS certificate: EC2 health checks only (the NLB check cannot pass) and no unhealthy-proxy alarm', () => {
    const proxies = Object.entries(fleets.findResources('AWS::AutoScaling::AutoScalingGroup')).find(([id]) => id.startsWith('Proxies'))![1];
    expect(proxies.Properties.HealthCheckType).toBe('EC2');
    expect(JSON.stringify(fleets.findResources('AWS::CloudWatch::Alarm'))).not.toContain('proxies-unhealthy');
  });

  it('no alarm e-mail: the topic has no subscription', () => {
    monitoring.resourceCountIs('AWS::SNS::Topic', 1);
    monitoring.resourceCountIs('AWS::SNS::Subscription', 0);
  });
});

describe('changing the admins', () => {
  it('redeploys the stage: API Gateway applies a new resource policy only with a new deployment', () => {
    const deploymentIds = (roleArns: string[]) => {
      const { stacks } = buildTestApp({ ...MINIMAL_CONFIG, admins: { roleArns } });
      const api = Template.fromStack(stacks.api);
      return Object.keys(api.findResources('AWS::ApiGateway::Deployment'));
    };
    const one = deploymentIds([ADMIN_ROLE_ARN]);
    const two = deploymentIds([ADMIN_ROLE_ARN, 'arn:aws:iam::111122223333:role/SecondAdmin']);
    expect(one).toHaveLength(1);
    expect(two).toHaveLength(1);
    expect(one[0]).not.toBe(two[0]);
    expect(deploymentIds([ADMIN_ROLE_ARN])).toEqual(one);
  });
});
