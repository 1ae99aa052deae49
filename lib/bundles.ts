import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { buildSync, type BuildOptions } from 'esbuild';
import { AGENT_BUNDLE_DIST_DIR, AGENT_BUNDLE_FILE, agentBundleBanner } from '../src/bootstrap/agent-bundle';
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

/** The gateway's version (package.json): the agent bundle carries it in its banner and its served file name. */
export function gatewayVersion(): string {
  return (JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
}

/**
 * The environment agent (`gateway-agent enroll|run`, src/bootstrap/agent-main.ts): what
 * `GET /v1/agent/...` serves and the bootstrap script installs. No AWS SDK, no source map (one
 * file, about 150 KB); ASCII output, so its SHA-256 is the same whatever decodes it.
 */
export function agentBundleOptions(outfile: string, version = gatewayVersion()): BuildOptions {
  return {
    ...BASE_OPTIONS,
    charset: 'ascii',
    stdin: {
      contents: `require('./bootstrap/agent-main').agentMain(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, env: process.env }, ${JSON.stringify(version)}).then((code) => { process.exitCode = code; });`,
      resolveDir: path.join(REPO_ROOT, 'src'),
      sourcefile: 'gateway-agent-entry.ts',
      loader: 'ts',
    },
    banner: { js: agentBundleBanner(version) },
    outfile,
  };
}

export { AGENT_BUNDLE_FILE };

/** Where `npm run build` puts the agent bundle; the local gateway serves it from there. */
export const AGENT_BUNDLE_DIST_PATH = path.join(REPO_ROOT, AGENT_BUNDLE_DIST_DIR, AGENT_BUNDLE_FILE);

/** Writes the agent bundle to `outfile`. */
export function bundleAgent(outfile: string = AGENT_BUNDLE_DIST_PATH): void {
  buildSync(agentBundleOptions(outfile));
}

if (require.main === module) {
  const args = process.argv.slice(2);
  const mode = args[0] === '--server' || args[0] === '--agent' ? args[0] : undefined;
  const out = mode ? args[1] : args[0];
  if (mode === '--agent') {
    bundleAgent(out ? path.resolve(out) : undefined);
  } else if (!out) {
    process.stderr.write('usage: tsx lib/bundles.ts [--server] <outfile> | --agent [<outfile>]\n');
    process.exitCode = 2;
  } else if (mode === '--server') {
    buildSync(serverBundleOptions(path.resolve(out)));
  } else {
    bundleCli(path.resolve(out), true);
  }
}
