import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, Stack, Validations } from 'aws-cdk-lib/core';
import { LogGroup } from 'aws-cdk-lib/aws-logs';
import { CfnGuardValidator } from '@cdklabs/cdk-validator-cfnguard';
import { buildGateway } from '../../lib/app';
import type { GatewayConfigInput } from '../../lib/config';
import { havePrerequisites } from '../support/prerequisites';
import { validateTemplate } from './support/cfn-schema';
import { cdkJsonContext, MINIMAL_CONFIG, PRODUCTION_CONFIG } from './support/app';
import { resolveIntrinsics } from './support/intrinsics';

type Template = { Resources: Record<string, { Type: string; Properties?: Record<string, any> }> };
type ValidationReport = { pluginReports: { pluginName: string; violations: { ruleName: string; severity?: string; violatingConstructs?: { constructPath: string }[] }[] }[] };

/**
 * The two configurations as `cdk synth -c guard=true` builds them: cdk-nag and the AWS Control
 * Tower proactive controls (cfn-guard) as validation plugins. One synth per configuration for the
 * whole file (cfn-guard takes ~15 s). Synth does not always throw on an unacknowledged finding:
 * once any finding of a plugin is acknowledged, aws-cdk-lib (2.276) recomputes the plugin's
 * success from severities cfn-guard does not set, and only prints the rest. So the findings left
 * in the assembly's validation report are returned and checked too.
 */
function synthWithGuard(config: GatewayConfigInput): { templates: Record<string, Template>; findings: string[] } {
  const app = new App({ context: { ...cdkJsonContext(), gateway: config, 'aws:cdk:bundling-stacks': [] } });
  buildGateway(app, { guard: true });
  const assembly = app.synth();
  return { templates: Object.fromEntries(assembly.stacks.map((stack) => [stack.stackName, stack.template as Template])), findings: unacknowledgedFindings(assembly.directory) };
}

/**
 * `plugin rule construct-path` of every error the validation report still holds (acknowledged ones
 * are moved out of `violations`; warnings, such as synth's own no-certificate note, are not errors).
 */
function unacknowledgedFindings(assemblyDir: string): string[] {
  const report = JSON.parse(readFileSync(join(assemblyDir, 'validation-report.json'), 'utf8')) as ValidationReport;
  return report.pluginReports.flatMap((plugin) =>
    plugin.violations.filter((v) => v.severity !== 'warning' && v.severity !== 'info').flatMap((v) => (v.violatingConstructs ?? [{ constructPath: '?' }]).map((c) => `${plugin.pluginName} ${v.ruleName} ${c.constructPath}`)),
  );
}

const configs = { production: PRODUCTION_CONFIG, minimal: MINIMAL_CONFIG };
const synthesized: Partial<Record<keyof typeof configs, Record<string, Template>>> = {};
const findings: Partial<Record<keyof typeof configs, string[]>> = {};

beforeAll(() => {
  for (const [name, config] of Object.entries(configs)) {
    const result = synthWithGuard(config);
    synthesized[name as keyof typeof configs] = result.templates;
    findings[name as keyof typeof configs] = result.findings;
  }
}, 240_000);

describe.each(Object.keys(configs) as (keyof typeof configs)[])('%s configuration', (name) => {
  it('synthesizes six stacks with no unacknowledged cdk-nag or AWS Guard finding', () => {
    expect(Object.keys(synthesized[name]!).sort()).toEqual(
      ['Api', 'Fleets', 'Monitoring', 'Network', 'Server', 'State'].map((s) => `NebulaGateway-${s}`),
    );
    expect(findings[name]).toEqual([]);
  });

  it('every resource matches its CloudFormation registry schema (types, properties, required, value types)', () => {
    const problems = Object.entries(synthesized[name]!).flatMap(([stack, template]) => validateTemplate(stack, template));
    expect(problems).toEqual([]);
    const checked = Object.values(synthesized[name]!).reduce((n, t) => n + Object.keys(t.Resources).length, 0);
    expect(checked).toBeGreaterThan(150);
  });

  it('the user data each launch template carries passes shellcheck', () => {
    if (!havePrerequisites(['shellcheck'])) return;
    const fleets = synthesized[name]!['NebulaGateway-Fleets'];
    const templates = Object.entries(fleets.Resources).filter(([, r]) => r.Type === 'AWS::EC2::LaunchTemplate');
    expect(templates).toHaveLength(2);
    const dir = mkdtempSync(join(tmpdir(), 'userdata-'));
    try {
      const paths = templates.map(([id, r]) => {
        const path = join(dir, `${id}.sh`);
        writeFileSync(path, resolveIntrinsics(r.Properties!.LaunchTemplateData.UserData));
        return path;
      });
      const check = spawnSync('shellcheck', ['--format=gcc', ...paths], { encoding: 'utf8' });
      expect([check.status, check.stdout]).toEqual([0, '']);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('the checks are not blind', () => {
  it('the schema check reports an unknown property, a missing required one, a wrong type, an unknown resource type', () => {
    const problems = validateTemplate('Test', {
      Resources: {
        Fn: { Type: 'AWS::Lambda::Function', Properties: { Role: 'arn', Code: { ZipFile: 'x' }, MemorySize: 'lots', Colour: 'blue' } },
        Topic: { Type: 'AWS::SNS::Topic', Properties: { TopicName: { Ref: 'Name' } } },
        Queue: { Type: 'AWS::SQS::Queue', Properties: { DelaySeconds: 5 }, DeletionPolicy: 'Keep' },
        Thing: { Type: 'AWS::Nothing::Here', Properties: {} },
      },
    });
    expect(problems.map((p) => `${p.resource} ${p.path}: ${p.problem}`).sort()).toEqual([
      'Fn Properties.Colour: unknown property',
      'Fn Properties.MemorySize: expected an integer, got "lots"',
      'Queue DeletionPolicy: not a policy: Keep',
      'Thing Type: no such resource type in the registry: AWS::Nothing::Here',
    ]);
    expect(validateTemplate('Test', { Resources: { Key: { Type: 'AWS::KMS::Alias', Properties: { AliasName: 'alias/x' } } } })).toEqual([
      { stack: 'Test', resource: 'Key', path: 'Properties.TargetKeyId', problem: 'required property missing' },
    ]);
  });

  it('cfn-guard runs on this machine and fails synth on an unacknowledged finding, not on an acknowledged one', () => {
    const build = (acknowledge: boolean) => {
      const app = new App();
      Validations.of(app).addPlugins(new CfnGuardValidator());
      const group = new LogGroup(new Stack(app, 'GuardCheck'), 'Logs');
      if (acknowledge) {
        Validations.of(group).acknowledge(
          { id: 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check', reason: 'test' },
          { id: 'cdk-validator-cfnguard::cloudwatch_log_group_retention_period_check', reason: 'test' },
        );
      }
      return () => app.synth();
    };
    expect(build(false)).toThrow(/CT\.CLOUDWATCH\.PR\.3|cloudwatch_log_group_encrypted_check/);
    expect(build(true)).not.toThrow();
  });

  it('a finding left unacknowledged beside an acknowledged one is in the validation report, whether or not synth throws', () => {
    const app = new App();
    Validations.of(app).addPlugins(new CfnGuardValidator());
    const stack = new Stack(app, 'GuardMixed');
    const acknowledged = new LogGroup(stack, 'Acknowledged');
    Validations.of(acknowledged).acknowledge(
      { id: 'cdk-validator-cfnguard::cloudwatch_log_group_encrypted_check', reason: 'test' },
      { id: 'cdk-validator-cfnguard::cloudwatch_log_group_retention_period_check', reason: 'test' },
    );
    new LogGroup(stack, 'Forgotten');
    let directory = app.outdir;
    try {
      directory = app.synth().directory;
    } catch {
      // aws-cdk-lib versions differ here; the report is written before either outcome.
    }
    const found = unacknowledgedFindings(directory);
    expect(found).toContain('cdk-validator-cfnguard cloudwatch_log_group_encrypted_check GuardMixed/Forgotten/Resource');
    expect(found.filter((f) => f.includes('Acknowledged'))).toEqual([]);
  });
});
