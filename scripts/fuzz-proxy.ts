import { appendToCorpus } from '../test/proxy/fuzz/corpus';
import { DifferentialHarness } from '../test/proxy/fuzz/harness';
import { generatedCases, runCases } from '../test/proxy/fuzz/run';

/**
 * `npm run fuzz -- --seconds N [--seed S] [--lanes L]`: the proxy's differential fuzzer for as
 * long as asked. Prints the case counts and each failure, and appends every failing case to
 * test/proxy/fuzz/corpus.jsonl, which the test suite replays on every run.
 */

function flag(name: string, fallback: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return fallback;
  const value = Number(process.argv[i + 1]);
  if (!Number.isInteger(value) || value < 0) {
    process.stderr.write(`fuzz: --${name} needs a whole number, got ${JSON.stringify(process.argv[i + 1])}\n`);
    process.exit(2);
  }
  return value;
}

async function main(): Promise<void> {
  const seconds = flag('seconds', 60);
  const seed = flag('seed', Math.floor(Math.random() * 2 ** 31));
  const lanes = flag('lanes', 4);
  const harness = new DifferentialHarness();
  await harness.start();
  const until = Date.now() + seconds * 1000;
  process.stdout.write(`fuzz: seed ${seed}, ${seconds} s, ${lanes} lanes\n`);
  const started = process.cpuUsage();
  const stats = await runCases(harness, generatedCases(seed, harness.requestHost), {
    lanes,
    shouldStop: () => Date.now() >= until,
    onFailure: (f) => {
      process.stdout.write(`FAIL ${f.kind} ${f.found}\n  ${JSON.stringify(f.bytes)}\n`);
      if (f.bytes !== '') appendToCorpus({ kind: f.kind, bytes: f.bytes, ...(f.method && { method: f.method }), found: f.found });
    },
  });
  await harness.close();
  const cpu = process.cpuUsage(started);
  process.stdout.write(
    `fuzz: ${stats.requests} request cases (${stats.forwarded} requests reached the environment), ` +
      `${stats.responses} response cases (${stats.relayed} relayed to the client), ${stats.failures.length} failures ` +
      `(seed ${seed}, CPU ${((cpu.user + cpu.system) / 1e6).toFixed(1)} s)\n`,
  );
  process.exit(stats.failures.length > 0 ? 1 : 0);
}

void main();
