import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `npm run bench [name...]`: runs each `bench/<name>.bench.ts` in its own process, one after the
 * other (they measure, so they must not share the machine with each other). A group name (GROUPS)
 * stands for several.
 */
/** Groups: a name that also runs other benchmarks (`npm run bench mesh` times NAT traversal, egress and CA rotation too). */
const GROUPS: Readonly<Record<string, readonly string[]>> = { mesh: ['mesh', 'nat', 'egress', 'rotation'] };
const only = process.argv.slice(2).flatMap((name) => GROUPS[name] ?? [name]);
const scripts = readdirSync(__dirname)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => only.length === 0 || only.includes(f.replace(/\.bench\.ts$/, '')))
  .sort();
let failed = 0;
for (const script of scripts) {
  process.stdout.write(`\n## ${script.replace(/\.bench\.ts$/, '')}\n\n`);
  const result = spawnSync(process.execPath, ['--import', 'tsx', join(__dirname, script)], { stdio: 'inherit' });
  if (result.status !== 0) failed++;
}
process.exitCode = failed === 0 ? 0 : 1;
