import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The environment agent bundle's file name wherever it is built: beside the gateway's code, or in the checkout's dist/agent/. */
export const AGENT_BUNDLE_FILE = 'gateway-agent.js';

/** Where `npm run build` writes the bundle, relative to the repository root. */
export const AGENT_BUNDLE_DIST_DIR = 'dist/agent';

/** The bundle's first two lines: how to run it, and the gateway version it was built from (read back by describeAgentBundle). */
export function agentBundleBanner(version: string): string {
  return `#!/usr/bin/env node\n// gateway-agent ${version}`;
}

const BANNER_VERSION = /^#!\/usr\/bin\/env node\n\/\/ gateway-agent ([0-9A-Za-z.+-]{1,64})\n/;

/** The agent bundle as the API serves it. */
export interface AgentBundle {
  /** The gateway's package.json version the bundle was built from. */
  readonly version: string;
  /** Lowercase hex SHA-256 of `content`: pinned in the bootstrap script. */
  readonly sha256: string;
  /** `<version>-<first 16 hex digits of sha256>.js`: immutable, so cacheable for good. */
  readonly fileName: string;
  /** The bundle itself (ASCII JavaScript: esbuild escapes the rest), as served. */
  readonly content: string;
}

/** The bundle is not what the build writes (no banner, not ASCII); the message says what is wrong. */
export class AgentBundleError extends Error {
  override readonly name = 'AgentBundleError';
}

/** Version, digest and file name of a built bundle. Pure. */
export function describeAgentBundle(bytes: Buffer): AgentBundle {
  const content = bytes.toString('latin1');
  if (/[^\x00-\x7f]/.test(content)) throw new AgentBundleError('the agent bundle is not ASCII (esbuild charset must be ascii): its digest would depend on the encoding');
  const version = BANNER_VERSION.exec(content)?.[1];
  if (!version) throw new AgentBundleError(`the agent bundle does not start with the banner '${agentBundleBanner('<version>')}'`);
  const sha256 = createHash('sha256').update(bytes).digest('hex');
  return { version, sha256, fileName: `${version}-${sha256.slice(0, 16)}.js`, content };
}

/**
 * Where a gateway looks for the bundle, first found wins: beside its own code (the Lambda asset,
 * the container image: both bundles put it there), then the checkout's dist/agent/ (npm run build).
 */
export function agentBundleCandidates(codeDir: string = __dirname): string[] {
  return [join(codeDir, AGENT_BUNDLE_FILE), join(codeDir, '..', '..', AGENT_BUNDLE_DIST_DIR, AGENT_BUNDLE_FILE)];
}

const loaded = new Map<string, AgentBundle>();

/**
 * The bundle at `path` (or the first of agentBundleCandidates), read once per process and path;
 * undefined while there is none (a checkout before `npm run build`), so a later build is picked up.
 */
export function loadAgentBundle(path?: string): AgentBundle | undefined {
  for (const candidate of path ? [path] : agentBundleCandidates()) {
    const cached = loaded.get(candidate);
    if (cached) return cached;
    let bytes: Buffer;
    try {
      bytes = readFileSync(candidate);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw err;
    }
    const bundle = describeAgentBundle(bytes);
    loaded.set(candidate, bundle);
    return bundle;
  }
  return undefined;
}
