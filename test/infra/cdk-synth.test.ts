import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { MINIMAL_CONFIG } from './support/app';

const ROOT = resolve(__dirname, '../..');
/** Offline: fake credentials (test/support), Docker replaced by `false`, no version check. */
const CDK_ENV = { ...process.env, CDK_DOCKER: '/bin/false', CDK_DISABLE_VERSION_CHECK: '1' };

// `npx cdk synth` exactly as a platform engineer runs it, offline: the fake credentials and the
// blocked AWS endpoints from test/support, and CDK_DOCKER pointing at `false` so any attempt to
// use Docker (bundling, image builds) would fail the synth. cdk-nag runs inside (bin/ adds it).
describe('npx cdk synth (offline, no Docker)', () => {
  let out: string;
  let result: ReturnType<typeof spawnSync>;

  beforeAll(() => {
    out = mkdtempSync(join(tmpdir(), 'cdk-synth-'));
    result = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', out, '-c', `gateway=${JSON.stringify(MINIMAL_CONFIG)}`], {
      cwd: ROOT,
      encoding: 'utf8',
      env: CDK_ENV,
      timeout: 280_000,
    });
  }, 300_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it('succeeds and writes the six stacks', () => {
    expect([result.status, String(result.stderr).slice(-3000)]).toEqual([0, expect.any(String)]);
    const templates = readdirSync(out).filter((f) => f.endsWith('.template.json')).sort();
    expect(templates).toEqual([
      'NebulaGateway-Api.template.json',
      'NebulaGateway-Fleets.template.json',
      'NebulaGateway-Monitoring.template.json',
      'NebulaGateway-Network.template.json',
      'NebulaGateway-Server.template.json',
      'NebulaGateway-State.template.json',
    ]);
  });

  it('bundled every function with the local esbuild (minified, with a source map) and the agent as one file', () => {
    const assets = readdirSync(out).filter((d) => d.startsWith('asset.') && statSync(join(out, d)).isDirectory());
    // Ours have source maps; CDK's own custom-resource handler (the VPC's default security group) has none.
    const functionBundles = assets.filter((d) => existsSync(join(out, d, 'index.js.map')));
    expect(functionBundles).toHaveLength(7);
    for (const dir of functionBundles) {
      const code = readFileSync(join(out, dir, 'index.js'), 'utf8');
      // Minified: long lines (unminified code averages well under 100 characters a line).
      expect(code.length / code.split('\n').length).toBeGreaterThan(300);
      // The AWS SDK comes from the Lambda runtime: the bundle requires it by name and carries none
      // of its code (a bundled SDK brings its user agent `aws-sdk-js` and DynamoDB's wire target).
      expect(code).toMatch(/require\("@aws-sdk\/client-dynamodb"\)/);
      expect(code).not.toMatch(/aws-sdk-js|DynamoDB_20120810/);
    }
    // Each of our functions runs its own bundle: seven distinct code assets, each one of those directories.
    const codeKeys = readdirSync(out)
      .filter((f) => f.endsWith('.template.json'))
      .flatMap((f) => Object.values((JSON.parse(readFileSync(join(out, f), 'utf8')) as { Resources: Record<string, { Type: string; Properties: any }> }).Resources))
      .filter((r) => r.Type === 'AWS::Lambda::Function' && JSON.stringify(r.Properties.Architectures) === '["arm64"]')
      .map((r) => `asset.${String(r.Properties.Code.S3Key).replace(/\.zip$/, '')}`);
    expect(codeKeys).toHaveLength(7);
    expect(new Set(codeKeys).size).toBe(7);
    expect([...codeKeys].sort()).toEqual([...functionBundles].sort());
    const agent = readdirSync(out).filter((f) => /^asset\..*\.js$/.test(f));
    expect(agent).toHaveLength(1);
    expect(readFileSync(join(out, agent[0]), 'utf8').startsWith('#!/usr/bin/env node')).toBe(true);
  });

  it('copied the server image context (Dockerfile, sources) without node_modules', () => {
    const contexts = readdirSync(out).filter((d) => d.startsWith('asset.') && existsSync(join(out, d, 'Dockerfile')));
    expect(contexts).toHaveLength(1);
    const entries = readdirSync(join(out, contexts[0])).sort();
    expect(entries).toEqual(expect.arrayContaining(['Dockerfile', 'lambda', 'lib', 'package-lock.json', 'package.json', 'src']));
    expect(entries).not.toContain('node_modules');
    expect(entries).not.toContain('cdk.out');
  });
});

describe('npx cdk synth without a configuration', () => {
  it('stops before building anything, naming what to set (cdk.json has no default domain)', () => {
    const out = mkdtempSync(join(tmpdir(), 'cdk-synth-'));
    try {
      const result = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', out], { cwd: ROOT, encoding: 'utf8', env: CDK_ENV, timeout: 120_000 });
      expect(result.status).not.toBe(0);
      expect(result.stderr).toContain("context 'gateway' is missing; set at least gateway.domain and gateway.admins.roleArns");
      expect(readdirSync(out).filter((f) => f.endsWith('.template.json'))).toEqual([]);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 150_000);
});
