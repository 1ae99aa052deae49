import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Match, Template } from 'aws-cdk-lib/assertions';
import { App } from 'aws-cdk-lib/core';
import { buildGateway, type GatewayStacks } from '../../lib/app';
import { ConfigError, egressRoutes, fleetRoleName, type GatewayConfigInput, parseConfig } from '../../lib/config';
import { CLOUDWATCH_AGENT_CONFIG, EGRESS_FLOW_LOG, EGRESS_UNIT } from '../../lib/constructs/egress-bootstrap';
import { AGENT_UNIT, renderedFiles } from '../../lib/constructs/node-bootstrap';
import { EGRESS_EXPORTED_OUTPUTS } from '../../lib/exports';
import { describeNeeding } from '../support/prerequisites';
import { validateTemplate } from './support/cfn-schema';
import { cdkJsonContext, MINIMAL_CONFIG, PRODUCTION_CONFIG } from './support/app';
import { resolveIntrinsics } from './support/intrinsics';

type Resource = { Type: string; Properties?: Record<string, any>; [k: string]: unknown };
type TemplateJson = { Resources: Record<string, Resource>; Outputs?: Record<string, any>; Parameters?: Record<string, { Default?: string }> };
type Statement = { Effect: string; Action: string | string[]; Resource: unknown; Condition?: Record<string, Record<string, unknown>> };
type ValidationReport = { pluginReports: { pluginName: string; violations: { ruleName: string; severity?: string; violatingConstructs?: { constructPath: string }[] }[] }[] };

const EGRESS_CONFIG: GatewayConfigInput = { ...PRODUCTION_CONFIG, egress: { enabled: true, extraCidrs: ['10.50.0.0/16', '172.20.0.0/20'], maxInstances: 3 } };

/**
 * One synth per configuration, as `cdk synth -c guard=true` runs it: cdk-nag and the AWS Control
 * Tower proactive controls (cfn-guard). Synth does not always throw on an unacknowledged finding
 * once another is acknowledged (see templates.test.ts), so the assembly's validation report is read.
 */
function synth(config: GatewayConfigInput): { stacks: GatewayStacks; templates: Record<string, TemplateJson>; findings: string[] } {
  const app = new App({ context: { ...cdkJsonContext(), gateway: config, 'aws:cdk:bundling-stacks': [] } });
  const stacks = buildGateway(app, { guard: true });
  const assembly = app.synth();
  const report = JSON.parse(readFileSync(join(assembly.directory, 'validation-report.json'), 'utf8')) as ValidationReport;
  const findings = report.pluginReports.flatMap((plugin) =>
    plugin.violations
      .filter((v) => v.severity !== 'warning' && v.severity !== 'info')
      .flatMap((v) => (v.violatingConstructs ?? [{ constructPath: '?' }]).map((c) => `${plugin.pluginName} ${v.ruleName} ${c.constructPath}`)),
  );
  const templates = Object.fromEntries(assembly.stacks.map((stack) => [stack.stackName.replace(/^NebulaGateway-/, ''), stack.template as TemplateJson]));
  return { stacks, templates, findings };
}

let enabled: ReturnType<typeof synth>;
let disabled: ReturnType<typeof synth>;
let fleets: Template;

beforeAll(() => {
  enabled = synth(EGRESS_CONFIG);
  disabled = synth(PRODUCTION_CONFIG);
  fleets = Template.fromStack(enabled.stacks.fleets);
}, 240_000);

const resources = (t: TemplateJson, type: string) => Object.entries(t.Resources).filter(([, r]) => r.Type === type);
const egressResources = (t: TemplateJson) => Object.keys(t.Resources).filter((id) => id.startsWith('Egress'));
const statements = (t: TemplateJson): (Statement & { roles: unknown })[] =>
  resources(t, 'AWS::IAM::Policy').flatMap(([, p]) => (p.Properties!.PolicyDocument.Statement as Statement[]).map((s) => ({ ...s, roles: p.Properties!.Roles })));
const egressRole = { Ref: expect.stringMatching(/^EgressRole/) };
const userData = () => resolveIntrinsics(resources(enabled.templates.Fleets, 'AWS::EC2::LaunchTemplate').find(([id]) => id.startsWith('Egress'))![1].Properties!.LaunchTemplateData.UserData);

describe('gateway.egress configuration', () => {
  it('is off unless enabled; enabled, it defaults to two instances and routes the VPC CIDR, then the extra CIDRs in order', () => {
    expect(parseConfig(MINIMAL_CONFIG).egress).toBeUndefined();
    expect(egressRoutes(parseConfig(MINIMAL_CONFIG))).toEqual([]);
    expect(egressRoutes(parseConfig({ ...MINIMAL_CONFIG, egress: { extraCidrs: ['10.50.0.0/16'] } }))).toEqual([]);
    const config = parseConfig({ ...MINIMAL_CONFIG, egress: { enabled: true } });
    expect(config.egress).toEqual({ enabled: true, extraCidrs: [], maxInstances: 2, instanceType: 't4g.small' });
    expect(egressRoutes(config)).toEqual(['10.40.0.0/16']);
    expect(egressRoutes(parseConfig(EGRESS_CONFIG))).toEqual(['10.40.0.0/16', '10.50.0.0/16', '172.20.0.0/20']);
  });

  it.each([
    [{ enabled: 'yes' }, /gateway\.egress\.enabled: /],
    [{ enabled: true, extraCidrs: ['10.50.0.1/16'] }, /gateway\.egress\.extraCidrs\.0: must be an IPv4 CIDR/],
    [{ enabled: true, extraCidrs: '10.50.0.0/16' }, /gateway\.egress\.extraCidrs: /],
    [{ enabled: true, extraCidrs: ['100.100.4.0/24'] }, /gateway\.egress\.extraCidrs\.0: 100\.100\.4\.0\/24 overlaps the overlay 100\.100\.0\.0\/16/],
    [{ enabled: true, extraCidrs: ['10.0.0.0/8'] }, /gateway\.egress\.extraCidrs\.0: 10\.0\.0\.0\/8 overlaps the VPC's 10\.40\.0\.0\/16/],
    [{ enabled: true, extraCidrs: ['10.50.0.0/16', '10.50.8.0/24'] }, /gateway\.egress\.extraCidrs\.1: 10\.50\.8\.0\/24 overlaps 10\.50\.0\.0\/16, listed before it/],
    [{ enabled: true, extraCidrs: ['127.0.0.0/8'] }, /gateway\.egress\.extraCidrs\.0: 127\.0\.0\.0\/8 overlaps loopback \(127\.0\.0\.0\/8\)/],
    [{ enabled: true, extraCidrs: ['169.254.0.0/24'] }, /gateway\.egress\.extraCidrs\.0: 169\.254\.0\.0\/24 overlaps link-local space/],
    [{ enabled: true, extraCidrs: ['240.0.0.0/8'] }, /gateway\.egress\.extraCidrs\.0: 240\.0\.0\.0\/8 overlaps multicast or reserved space \(224\.0\.0\.0\/3\)/],
    [{ enabled: true, extraCidrs: ['8.0.0.0/7'] }, /gateway\.egress\.extraCidrs\.0: must be an IPv4 CIDR/],
    [{ enabled: true, maxInstances: 0 }, /gateway\.egress\.maxInstances: /],
    [{ enabled: true, maxInstances: 11 }, /gateway\.egress\.maxInstances: /],
    [{ enabled: true, maxInstances: 1.5 }, /gateway\.egress\.maxInstances: /],
    [{ enabled: true, instanceType: 'small' }, /gateway\.egress\.instanceType: must be an EC2 instance type/],
    [{ enabled: true, cidrs: [] }, /gateway\.egress: Unrecognized key: "cidrs"/],
  ])('refuses egress %j naming the field', (egress, message) => {
    const parse = () => parseConfig({ ...MINIMAL_CONFIG, egress });
    expect(parse).toThrow(ConfigError);
    expect(parse).toThrow(message);
  });

  it('accepts the edges: one instance, ten, a peered VPC next to (not over) the VPC', () => {
    for (const egress of [{ enabled: true, maxInstances: 1 }, { enabled: true, maxInstances: 10 }, { enabled: true, extraCidrs: ['10.41.0.0/16', '10.39.0.0/16'] }, { enabled: true, extraCidrs: ['1.0.0.0/8', '223.255.255.0/24', '126.0.0.0/8'] }]) {
      expect(parseConfig({ ...MINIMAL_CONFIG, egress }).egress).toMatchObject(egress);
    }
  });
});

describe('egress disabled (the default)', () => {
  it('creates no egress resource, output, parameter, role name or server rule', () => {
    const { templates } = disabled;
    expect(Object.keys(templates.Fleets.Resources).filter((id) => id.startsWith('Egress'))).toEqual([]);
    expect(resources(templates.Fleets, 'AWS::EC2::EIP')).toHaveLength(2);
    expect(resources(templates.Fleets, 'AWS::AutoScaling::AutoScalingGroup')).toHaveLength(2);
    const all = JSON.stringify(templates);
    for (const needle of ['egress-security-group-id', 'EGRESS_ROLE_NAME', 'egress-node', 'EgressAddresses', 'EgressSecurityGroupId', 'ModifyInstanceAttribute', 'Custom::NebulaEgressRoutes']) {
      expect([needle, all.includes(needle)]).toEqual([needle, false]);
    }
  });
});

describe('egress enabled', () => {
  it('passes cdk-nag, the AWS Control Tower controls and the CloudFormation registry schemas', () => {
    expect(enabled.findings).toEqual([]);
    const problems = Object.entries(enabled.templates).flatMap(([stack, template]) => validateTemplate(stack, template));
    expect(problems).toEqual([]);
  });

  it('one Elastic IP per instance, tagged for the egress pool; the group is as large as the pool, in the public subnets', () => {
    const addresses = resources(enabled.templates.Fleets, 'AWS::EC2::EIP').filter(([id]) => id.startsWith('Egress'));
    expect(addresses).toHaveLength(3);
    for (const [, eip] of addresses) {
      expect(eip.Properties).toEqual({ Domain: 'vpc', Tags: [{ Key: 'nebula-gateway:eip-pool', Value: 'NebulaGateway-egress' }] });
    }
    const groups = Object.fromEntries(resources(enabled.templates.Fleets, 'AWS::AutoScaling::AutoScalingGroup').map(([id, g]) => [id.replace(/Group.*$/, ''), g]));
    expect(Object.keys(groups).sort()).toEqual(['Egress', 'Lighthouses', 'Proxies']);
    expect(groups.Egress.Properties).toMatchObject({ MinSize: '3', MaxSize: '3' });
    expect(groups.Egress.Properties!.VPCZoneIdentifier).toEqual(groups.Lighthouses.Properties!.VPCZoneIdentifier);
    expect(groups.Egress.Properties!.VPCZoneIdentifier).not.toEqual(groups.Proxies.Properties!.VPCZoneIdentifier);
    expect(groups.Egress.Properties!.VPCZoneIdentifier.length).toBeGreaterThanOrEqual(2);
    expect(groups.Egress.Properties!.Tags).toEqual(
      expect.arrayContaining([
        { Key: 'nebula-gateway:network', PropagateAtLaunch: true, Value: 'NebulaGateway' },
        { Key: 'nebula-gateway:role', PropagateAtLaunch: true, Value: 'egress' },
      ]),
    );
    expect(groups.Egress.UpdatePolicy).toMatchObject({ AutoScalingRollingUpdate: { MaxBatchSize: 1, MinInstancesInService: 2, WaitOnResourceSignals: true } });
    fleets.hasResourceProperties('AWS::IAM::Role', { RoleName: fleetRoleName({ name: 'NebulaGateway' }, 'eu-west-1', 'egress') });
    fleets.hasResourceProperties('AWS::EC2::LaunchTemplate', {
      LaunchTemplateData: Match.objectLike({ NetworkInterfaces: [Match.objectLike({ AssociatePublicIpAddress: true })], MetadataOptions: Match.objectLike({ HttpTokens: 'required' }) }),
    });
  });

  it("the role may associate only the pool's addresses, and only with, and change only, this network's egress instances: documented condition keys only", () => {
    const addresses = resources(enabled.templates.Fleets, 'AWS::EC2::EIP')
      .filter(([id]) => id.startsWith('Egress'))
      .map(([id]) => ({ 'Fn::Join': ['', ['arn:aws:ec2:eu-west-1:111122223333:elastic-ip/', { 'Fn::GetAtt': [id, 'AllocationId'] }]] }));
    expect(addresses).toHaveLength(3);
    fleets.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^EgressRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectEquals({ Effect: 'Allow', Action: 'ec2:AssociateAddress', Resource: addresses }),
          Match.objectEquals({
            Effect: 'Allow',
            Action: ['ec2:AssociateAddress', 'ec2:ModifyInstanceAttribute'],
            Resource: 'arn:aws:ec2:eu-west-1:111122223333:instance/*',
            Condition: { StringEquals: { 'aws:ResourceTag/nebula-gateway:role': 'egress', 'aws:ResourceTag/nebula-gateway:network': 'NebulaGateway' } },
          }),
        ]),
      },
    });
    const ec2 = statements(enabled.templates.Fleets).filter((s) => [s.Action].flat().some((a) => a.startsWith('ec2:')));
    expect(ec2.filter((s) => JSON.stringify(s.roles).includes('Egress'))).toHaveLength(2);
    // Nowhere in the app is ModifyInstanceAttribute (or any ec2 wildcard) allowed beyond the egress nodes' tags.
    const modifying: unknown[] = [];
    for (const [stack, template] of Object.entries(enabled.templates)) {
      for (const s of statements(template)) {
        const actions = [s.Action].flat();
        expect([stack, actions.filter((a) => /^ec2:(\*|Modify\*|ModifyInstance\*)$/.test(a))]).toEqual([stack, []]);
        if (actions.includes('ec2:ModifyInstanceAttribute')) modifying.push({ roles: s.roles, condition: s.Condition });
      }
    }
    expect(modifying).toEqual([
      { roles: [egressRole], condition: { StringEquals: { 'aws:ResourceTag/nebula-gateway:role': 'egress', 'aws:ResourceTag/nebula-gateway:network': 'NebulaGateway' } } },
    ]);
    // Documented keys only (the Service Authorization Reference's aws:ResourceTag on the instance), never the folklore aws:ARN.
    const keys = ec2.flatMap((s) => Object.values(s.Condition ?? {}).flatMap((c) => Object.keys(c)));
    expect(keys.length).toBeGreaterThan(0);
    expect(keys.filter((k) => !k.startsWith('aws:ResourceTag/nebula-gateway:'))).toEqual([]);
    expect(JSON.stringify(enabled.templates)).not.toMatch(/"aws:ARN"\s*:/i);
  });

  it('the role writes the flow log group only (one stream per instance), and calls only the register route', () => {
    const [[logGroupId]] = resources(enabled.templates.Fleets, 'AWS::Logs::LogGroup').filter(([id]) => id.startsWith('EgressFlowLogs'));
    const own = statements(enabled.templates.Fleets).filter((s) => JSON.stringify(s.roles).includes('EgressRole'));
    const logs = own.filter((s) => [s.Action].flat().some((a) => a.startsWith('logs:')));
    expect(logs.map((s) => [s.Action].flat()).flat().sort()).toEqual(['logs:CreateLogStream', 'logs:DescribeLogStreams', 'logs:PutLogEvents']);
    for (const s of logs) expect(JSON.stringify(s.Resource)).toContain(logGroupId);
    expect(own.filter((s) => [s.Action].flat().includes('execute-api:Invoke'))).toHaveLength(1);
    fleets.hasResourceProperties('AWS::Logs::LogGroup', { RetentionInDays: 30 });
  });

  it('security group: nebula UDP 4242 from anywhere only; every destination outbound (the VPC, the internet)', () => {
    const [[, sg]] = resources(enabled.templates.Fleets, 'AWS::EC2::SecurityGroup').filter(([id]) => id.startsWith('EgressSecurityGroup'));
    expect(sg.Properties!.SecurityGroupIngress).toEqual([{ CidrIp: '0.0.0.0/0', Description: 'nebula from every node', FromPort: 4242, IpProtocol: 'udp', ToPort: 4242 }]);
    expect(sg.Properties!.SecurityGroupEgress).toEqual([{ CidrIp: '0.0.0.0/0', Description: 'Allow all outbound traffic by default', IpProtocol: '-1' }]);
  });

  it('outputs the addresses (joined, pool order) and the security group under stable export names, and the flow log group', () => {
    const outputs = enabled.templates.Fleets.Outputs!;
    const ids = resources(enabled.templates.Fleets, 'AWS::EC2::EIP').filter(([id]) => id.startsWith('Egress')).map(([id]) => id);
    expect(outputs.EgressAddresses).toMatchObject({ Value: { 'Fn::Join': [',', ids.map((id) => ({ Ref: id }))] }, Export: { Name: 'NebulaGateway-EgressAddresses' } });
    expect(outputs.EgressSecurityGroupId).toMatchObject({
      Value: { 'Fn::GetAtt': [expect.stringMatching(/^EgressSecurityGroup/), 'GroupId'] },
      Export: { Name: 'NebulaGateway-EgressSecurityGroupId' },
    });
    expect(outputs.EgressFlowLogGroup).toMatchObject({ Value: { Ref: expect.stringMatching(/^EgressFlowLogs/) } });
    expect(EGRESS_EXPORTED_OUTPUTS.map((name) => outputs[name].Export.Name)).toEqual(['NebulaGateway-EgressAddresses', 'NebulaGateway-EgressSecurityGroupId']);
  });

  it("writes the network's egress routes (VPC CIDR, then the extra CIDRs) through the egress-routes custom resource, which may touch only table items", () => {
    fleets.resourceCountIs('Custom::NebulaEgressRoutes', 1);
    fleets.hasResourceProperties('Custom::NebulaEgressRoutes', {
      ServiceToken: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EgressRoutesHandler'), 'Arn'] },
      Routes: ['10.40.0.0/16', '10.50.0.0/16', '172.20.0.0/20'],
      TableName: Match.anyValue(),
    });
    const own = statements(enabled.templates.Fleets).filter((s) => JSON.stringify(s.roles).includes('EgressRoutesHandler'));
    const actions = own.flatMap((s) => [s.Action].flat());
    expect(actions.filter((a) => !a.startsWith('dynamodb:') && !a.startsWith('logs:'))).toEqual([]);
    expect(actions.filter((a) => /^dynamodb:(\*|Scan|DeleteTable|CreateTable)$/.test(a))).toEqual([]);
    // A transaction is authorised item by item: the network record's update and the version's.
    expect(actions).toEqual(expect.arrayContaining(['dynamodb:GetItem', 'dynamodb:UpdateItem']));
  });

  it('the server admits the egress nodes on its port (group read from SSM); the fleets stack publishes it', () => {
    fleets.hasResourceProperties('AWS::SSM::Parameter', { Name: '/NebulaGateway/fleets/egress-security-group-id', Value: { 'Fn::GetAtt': [Match.stringLikeRegexp('^EgressSecurityGroup'), 'GroupId'] } });
    const server = enabled.templates.Server;
    const [parameter] = Object.entries(server.Parameters!).find(([, p]) => p.Default === '/NebulaGateway/fleets/egress-security-group-id')!;
    expect(resources(server, 'AWS::EC2::SecurityGroupIngress').map(([, r]) => r.Properties).filter((p) => JSON.stringify(p).includes(parameter))).toEqual([
      expect.objectContaining({ IpProtocol: 'tcp', FromPort: 8080, ToPort: 8080, SourceSecurityGroupId: { Ref: parameter } }),
    ]);
  });

  it('registration: the register function knows the egress role, the API lets it in, the lifecycle function revokes its hosts', () => {
    const roleName = fleetRoleName({ name: 'NebulaGateway' }, 'eu-west-1', 'egress');
    const api = Template.fromStack(enabled.stacks.api);
    api.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ EGRESS_ROLE_NAME: roleName, FLEET_TAG_ROLE: 'nebula-gateway:role' }) } });
    const [[, restApi]] = resources(enabled.templates.Api, 'AWS::ApiGateway::RestApi');
    const deny = (restApi.Properties!.Policy.Statement as { Sid?: string; Condition?: { ArnNotLike: Record<string, unknown> } }[]).find((s) => s.Sid === 'RegistrationOnlyToFleets')!;
    expect(JSON.stringify(deny.Condition!.ArnNotLike['aws:PrincipalArn'])).toContain(`role/${roleName}`);
    fleets.hasResourceProperties('AWS::Lambda::Function', { Environment: { Variables: Match.objectLike({ EGRESS_ROLE_NAME: roleName }) } });
    const [[, rule]] = resources(enabled.templates.Fleets, 'AWS::Events::Rule');
    expect(rule.Properties!.EventPattern.detail.AutoScalingGroupName).toHaveLength(3);
    expect(JSON.stringify(rule.Properties!.EventPattern.detail.AutoScalingGroupName)).toContain('EgressGroup');
  });

  it('boot: claims a pool address, then registers as egress; turns its own source/destination check off, forwards IPv4, runs `gateway egress run`', () => {
    const script = userData();
    const lines = script.split('\n');
    const at = (needle: string) => lines.findIndex((l) => l.includes(needle));
    expect(script).toContain('for alloc in getatt-EgressAddress1');
    expect(at('associate-address')).toBeGreaterThan(0);
    expect(at('v1/nodes/register')).toBeGreaterThan(at('associate-address'));
    expect(script).toContain("jq -n --arg role egress --rawfile publicKey");
    expect(script).toContain('aws ec2 modify-instance-attribute --region eu-west-1 --instance-id "$(imds instance-id)" --no-source-dest-check');
    expect(script).toContain('dnf install -y -q nftables conntrack-tools amazon-cloudwatch-agent logrotate');
    expect(renderedFiles(lines).find((f) => f.path.startsWith('/etc/sysctl.d/'))!.text).toMatch(/^net\.ipv4\.ip_forward = 1$/m);
    expect(at(`systemctl enable --now ${EGRESS_UNIT}`)).toBeGreaterThan(at(`systemctl enable --now ${AGENT_UNIT}`));
    const unit = renderedFiles(lines).find((f) => f.path === `/etc/systemd/system/${EGRESS_UNIT}`)!.text;
    expect(unit).toMatch(/^ExecStart=\/usr\/bin\/node-22 \/opt\/nebula-gateway\/gateway\.js egress run --dir \/var\/lib\/nebula-gateway --log-format json$/m);
    expect(unit).toMatch(new RegExp(`^StandardOutput=append:${EGRESS_FLOW_LOG}$`, 'm'));
    expect(unit).toMatch(/^CapabilityBoundingSet=CAP_NET_ADMIN$/m);
    expect(unit).toMatch(/^After=network-online\.target nebula-gateway-agent\.service$/m);
    const agent = JSON.parse(renderedFiles(lines).find((f) => f.path === CLOUDWATCH_AGENT_CONFIG)!.text);
    expect(agent.logs.logs_collected.files.collect_list).toEqual([
      { file_path: EGRESS_FLOW_LOG, log_group_name: expect.stringMatching(/^ref-EgressFlowLogs/), log_stream_name: '{instance_id}', timezone: 'UTC' },
    ]);
  });
});

function withDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'egress-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describeNeeding(['shellcheck'])('egress boot script: shellcheck', () => {
  it('finds nothing in the user data of the egress launch template', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'egress-boot.sh'), userData());
      const check = spawnSync('shellcheck', ['--format=gcc', join(dir, 'egress-boot.sh')], { encoding: 'utf8' });
      expect([check.status, check.stdout]).toEqual([0, '']);
    });
  });
});

describeNeeding(['systemd-analyze'])('egress boot script: systemd-analyze verify', () => {
  it('the agent and egress units verify as the instance holds them', () => {
    withDir((dir) => {
      cpSync('/usr/lib/systemd/system', join(dir, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
      for (const stub of ['/usr/bin/node-22', '/usr/local/bin/nebula']) {
        mkdirSync(dirname(join(dir, stub)), { recursive: true });
        writeFileSync(join(dir, stub), '#!/bin/sh\n');
        chmodSync(join(dir, stub), 0o755);
      }
      const files = renderedFiles(userData().split('\n'));
      for (const f of files) {
        mkdirSync(dirname(join(dir, f.path)), { recursive: true });
        writeFileSync(join(dir, f.path), f.text);
      }
      for (const unit of [AGENT_UNIT, EGRESS_UNIT]) {
        const result = spawnSync('systemd-analyze', ['verify', `--root=${dir}`, `/etc/systemd/system/${unit}`], { encoding: 'utf8' });
        expect([unit, result.status, `${result.stdout}${result.stderr}`.trim()]).toEqual([unit, 0, '']);
      }
    });
  });
});
