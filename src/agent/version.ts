import { spawnSync } from 'node:child_process';

/** The agent's version: the gateway package's (esbuild inlines package.json into the agent bundle). */
export const AGENT_VERSION: string = (require('../../package.json') as { version: string }).version;

const nebulaVersions = new Map<string, string | undefined>();

/** `nebula -version` of `binary` (`1.6.1`), asked once per process; undefined when it cannot say. */
export function nebulaVersion(binary: string): string | undefined {
  if (!nebulaVersions.has(binary)) {
    const result = spawnSync(binary, ['-version'], { encoding: 'utf8', timeout: 5000 });
    nebulaVersions.set(binary, /^Version: (\S+)/m.exec(result.stdout ?? '')?.[1]);
  }
  return nebulaVersions.get(binary);
}

/** `gateway-agent/<version> nebula/<version>`: how the agent names itself to the API (recorded on the host). */
export function agentUserAgent(nebulaBinary?: string): string {
  const nebula = nebulaBinary === undefined ? undefined : nebulaVersion(nebulaBinary);
  return `gateway-agent/${AGENT_VERSION}${nebula ? ` nebula/${nebula}` : ''}`;
}
