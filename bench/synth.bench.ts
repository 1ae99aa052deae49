import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/**
 * `npx cdk synth` of the gateway (6 stacks, 8 esbuild bundles, cdk-nag) against an app with one
 * empty stack, both through the CLI as a platform engineer runs it, offline (CDK_DOCKER=false).
 * Rounds alternate the two so that machine noise hits both alike. Target: the gateway under 2×
 * the empty app. Also times the gateway with the AWS Guard rules (`-c guard=true`), for
 * information: that is what test/infra runs, not every synth.
 */
const ROOT = resolve(__dirname, '..');
const WORK = join(ROOT, 'bench', 'results', `synth-${process.pid}`);
const RUNS = 3;
const GATEWAY = '{"domain":"bench.acme-corp.io","admins":{"roleArns":["arn:aws:iam::111122223333:role/Admin"]}}';

function timeSynth(extra: string[], out: string): number {
  rmSync(out, { recursive: true, force: true });
  const start = process.hrtime.bigint();
  const run = spawnSync('npx', ['cdk', 'synth', '--quiet', '--no-notices', '--output', out, ...extra], {
    cwd: ROOT,
    encoding: 'utf8',
    env: { ...process.env, CDK_DOCKER: '/bin/false', CDK_DISABLE_VERSION_CHECK: '1' },
  });
  if (run.status !== 0) throw new Error(`cdk synth ${extra.join(' ')} failed: ${run.stderr.slice(-2000)}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

function main(): void {
  mkdirSync(WORK, { recursive: true });
  try {
    const emptyApp = join(WORK, 'empty-app.ts');
    writeFileSync(emptyApp, "import { App, Stack } from 'aws-cdk-lib/core';\nconst app = new App();\nnew Stack(app, 'Empty');\n");
    const subjects = {
      empty: ['--app', `npx tsx ${emptyApp}`],
      gateway: ['-c', `gateway=${GATEWAY}`],
      guard: ['-c', `gateway=${GATEWAY}`, '-c', 'guard=true'],
    };
    const times: Record<keyof typeof subjects, number[]> = { empty: [], gateway: [], guard: [] };
    // One warm-up of each (npx, tsx and esbuild caches), then measured rounds.
    for (let round = 0; round <= RUNS; round++) {
      for (const [name, args] of Object.entries(subjects) as [keyof typeof subjects, string[]][]) {
        if (name === 'guard' && round > 1) continue;
        const ms = timeSynth(args, join(WORK, `cdk.out.${name}`));
        if (round > 0) times[name].push(ms);
      }
    }
    const empty = median(times.empty);
    const rows = [
      ['baseline: one empty stack', empty, 1],
      ['gateway: 6 stacks, 8 bundles, cdk-nag', median(times.gateway), median(times.gateway) / empty],
      ['gateway + AWS Guard rules (-c guard=true; test/infra)', median(times.guard), median(times.guard) / empty],
    ] as const;
    const table = [
      ['cdk synth', `wall time (median of ${RUNS}; guard: 1)`, 'ratio', '<2×'],
      ...rows.map(([what, ms, ratio], i) => [what, `${(ms / 1000).toFixed(1)} s`, ratio.toFixed(2), i === 1 ? (ratio < 2 ? 'ok' : 'OVER') : '']),
    ];
    const widths = table[0].map((_, i) => Math.max(...table.map((r) => r[i].length)));
    const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
    process.stdout.write(`${[line(table[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...table.slice(1).map(line)].join('\n')}\n`);
  } finally {
    rmSync(WORK, { recursive: true, force: true });
  }
}

main();
