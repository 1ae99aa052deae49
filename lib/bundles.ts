import * as path from 'node:path';
import { buildSync, type BuildOptions } from 'esbuild';
import { REPO_ROOT } from './paths';

/** What both bundles share: one minified CommonJS file for Node.js 20+. */
const BASE_OPTIONS: BuildOptions = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: true,
  logLevel: 'error',
};

/**
 * Self-contained bundles (AWS SDK included: neither the instances nor the container have it) of
 * the `gateway` command: for the fleets' S3 asset (lib/constructs/agent-asset.ts), and for the ECS
 * container, which runs `gateway serve --aws` (built by the Dockerfile with `npx tsx lib/bundles.ts --server <out>`).
 */
export function cliBundleOptions(outfile: string, sourcemap: boolean): BuildOptions {
  return {
    ...BASE_OPTIONS,
    stdin: {
      contents: "require('./cli/main').main(process.argv.slice(2)).then((code) => { process.exitCode = code; });",
      resolveDir: path.join(REPO_ROOT, 'src'),
      sourcefile: 'gateway-entry.ts',
      loader: 'ts',
    },
    sourcemap: sourcemap ? 'linked' : false,
    banner: { js: '#!/usr/bin/env node' },
    outfile,
  };
}

/** The container's bundle: the same `gateway` command, with a source map for its stack traces. */
export function serverBundleOptions(outfile: string): BuildOptions {
  return cliBundleOptions(outfile, true);
}

/** Writes the bundle to `outfile` (and `outfile.map` when `sourcemap`). */
export function bundleCli(outfile: string, sourcemap = false): void {
  buildSync(cliBundleOptions(outfile, sourcemap));
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const server = args[0] === '--server';
  const out = server ? args[1] : args[0];
  if (!out) {
    process.stderr.write('usage: tsx lib/bundles.ts [--server] <outfile>\n');
    process.exitCode = 2;
  } else if (server) {
    buildSync(serverBundleOptions(path.resolve(out)));
  } else {
    bundleCli(path.resolve(out), true);
  }
}
