/**
 * `npm run mutate [group...]`: StrykerJS over the security-critical modules, one group at a time
 * (stryker.config.mjs names each group's modules and tests), against one DynamoDB Local started
 * here for every jest run Stryker makes. Prints each module's mutation score and the time taken;
 * exits non-zero when Stryker fails or a module scores below its target.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { startDynamoDbLocal } from '../../src/server/dynamodb-local';
import { applyTestEnvironment } from '../support/aws-env';

const ROOT = resolve(__dirname, '../..');

/** The access decision, token verification and API auth must score 100%; the rest at least 90%. */
const TARGETS: Record<string, number> = {
  'src/proxy/access.ts': 100,
  'src/proxy/decision.ts': 100,
  'src/mesh/access-token.ts': 100,
  'src/proxy/token-verifier.ts': 100,
  'src/api/auth.ts': 100,
};
const DEFAULT_TARGET = 90;

interface MutantResult {
  status: string;
}

/** Stryker's score: detected (killed, timed out) over valid mutants (all but compile errors and ignored). */
function score(mutants: MutantResult[]): { score: number; survived: number; noCoverage: number; total: number } {
  const count = (status: string) => mutants.filter((m) => m.status === status).length;
  const detected = count('Killed') + count('Timeout');
  const valid = detected + count('Survived') + count('NoCoverage');
  return { score: valid === 0 ? 100 : (100 * detected) / valid, survived: count('Survived'), noCoverage: count('NoCoverage'), total: valid };
}

async function main(): Promise<number> {
  const { groups } = (await import(join(ROOT, 'stryker.config.mjs'))) as { groups: Record<string, unknown> };
  // Group names, then Stryker's own options (e.g. `--force` to re-test mutants the incremental file would reuse).
  const chosen = process.argv.slice(2).filter((arg) => !arg.startsWith('--'));
  const strykerArgs = process.argv.slice(2).filter((arg) => arg.startsWith('--'));
  const unknown = chosen.filter((g) => !(g in groups));
  if (unknown.length > 0) {
    console.error(`npm run mutate: unknown group ${unknown.join(', ')}; groups: ${Object.keys(groups).join(', ')}`);
    return 2;
  }
  applyTestEnvironment();
  const ddb = await startDynamoDbLocal();
  const rows: string[] = [];
  let failed = false;
  try {
    for (const group of chosen.length > 0 ? chosen : Object.keys(groups)) {
      const started = Date.now();
      const run = spawnSync('npx', ['stryker', 'run', ...strykerArgs], {
        cwd: ROOT,
        stdio: 'inherit',
        env: { ...process.env, CI: 'true', STRYKER_GROUP: group, GATEWAY_TEST_DYNAMODB_ENDPOINT: ddb.endpoint },
      });
      const minutes = ((Date.now() - started) / 60_000).toFixed(1);
      if (run.status !== 0) {
        rows.push(`${group}: stryker exited with ${run.status} after ${minutes} min`);
        failed = true;
        continue;
      }
      const report = JSON.parse(readFileSync(join(ROOT, 'reports/mutation', `${group}.json`), 'utf8')) as { files: Record<string, { mutants: MutantResult[] }> };
      for (const [file, { mutants }] of Object.entries(report.files)) {
        const s = score(mutants);
        const target = TARGETS[file] ?? DEFAULT_TARGET;
        if (s.score < target) failed = true;
        rows.push(`${group} ${file}: ${s.score.toFixed(1)}% of ${s.total} (survived ${s.survived}, no coverage ${s.noCoverage}; target ${target}%)`);
      }
      rows.push(`${group}: ${minutes} min`);
    }
  } finally {
    await ddb.stop();
  }
  console.log(rows.join('\n'));
  return failed ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
