import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { App, FileSystem, Stack } from 'aws-cdk-lib/core';
import { bundleCli } from '../../lib/bundles';
import { AgentAsset } from '../../lib/constructs/agent-asset';

const ROOT = resolve(__dirname, '../..');

interface Stage {
  readonly from: string;
  readonly platform?: string;
  readonly instructions: string[];
}

/** The Dockerfile's stages: each FROM line (its --platform flag apart) and the instructions after it. */
function dockerStages(text: string): Stage[] {
  const stages: Stage[] = [];
  for (const raw of text.replace(/\\\n/g, ' ').split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const from = /^FROM\s+(?:--platform=(\S+)\s+)?(.+)$/i.exec(line);
    if (from) stages.push({ platform: from[1], from: from[2], instructions: [] });
    else stages.at(-1)!.instructions.push(line);
  }
  return stages;
}

describe('server image (Dockerfile), built at deploy for linux/arm64 on any host', () => {
  const stages = dockerStages(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'));

  it('every build stage runs on the build host ($BUILDPLATFORM): no emulation, whatever the host CPU', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages.slice(0, -1)) expect([stage.from, stage.platform]).toEqual([stage.from, '$BUILDPLATFORM']);
  });

  it('only the final stage targets the task platform, and it installs nothing (no native code built for the wrong CPU)', () => {
    const final = stages.at(-1)!;
    expect(final.platform === undefined || final.platform === '$TARGETPLATFORM').toBe(true);
    expect(final.instructions.filter((i) => /^RUN\b/i.test(i))).toEqual([]);
    // What it copies from the build stage is the esbuild bundle only: plain JavaScript.
    expect(final.instructions.filter((i) => /^COPY\b/i.test(i))).toEqual(['COPY --from=build /out/ ./']);
    expect(readFileSync(join(ROOT, 'lib/bundles.ts'), 'utf8')).not.toMatch(/loader:\s*\{[^}]*'\.node'/);
  });

  it('the CDK asset asks for linux/arm64, the Fargate task runs ARM64', () => {
    const server = readFileSync(join(ROOT, 'lib/constructs/gateway-server.ts'), 'utf8');
    expect(server).toContain("ContainerImage.fromAsset(REPO_ROOT, { file: 'Dockerfile', platform: Platform.LINUX_ARM64 })");
    expect(server).toContain('cpuArchitecture: CpuArchitecture.ARM64');
  });

  it('the parser is not blind: a build stage without --platform is seen as such', () => {
    expect(dockerStages('FROM node:22 AS build\nRUN npm ci\nFROM node:22\nCOPY --from=build /out/ ./\n').map((s) => s.platform)).toEqual([undefined, undefined]);
  });
});

describe('agent asset', () => {
  it("is addressed by the hash of what is bundled (dependencies included), not of src/", () => {
    const outdir = mkdtempSync(join(tmpdir(), 'agent-asset-'));
    const fresh = mkdtempSync(join(tmpdir(), 'agent-bundle-'));
    try {
      const app = new App({ outdir });
      const agent = new AgentAsset(new Stack(app, 'Agent'), 'Agent');
      const staged = join(outdir, agent.asset.assetPath);
      expect(agent.asset.assetHash).toBe(FileSystem.fingerprint(staged));
      expect(agent.asset.s3ObjectKey).toBe(`${agent.asset.assetHash}.js`);
      // The staged file is the whole bundle (node_modules code inlined), byte for byte what esbuild makes now.
      bundleCli(join(fresh, 'gateway.js'));
      expect(readFileSync(staged).equals(readFileSync(join(fresh, 'gateway.js')))).toBe(true);
      expect(readFileSync(staged, 'utf8')).toMatch(/DynamoDBClient/);
      expect(agent.asset.assetHash).not.toBe(FileSystem.fingerprint(join(ROOT, 'src'), { exclude: ['**/*.test.ts', '**/README.md'] }));
    } finally {
      rmSync(outdir, { recursive: true, force: true });
      rmSync(fresh, { recursive: true, force: true });
    }
  });
});
