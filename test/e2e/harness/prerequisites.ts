import { spawnSync } from 'node:child_process';

/** What a real mesh needs on this machine; empty when all is there. */
export function missingMeshPrerequisites(): string[] {
  const missing: string[] = [];
  if (process.getuid?.() !== 0) missing.push('root');
  for (const [binary, args] of [['nebula', ['-version']], ['nebula-cert', ['-version']], ['ip', ['-V']], ['ping', ['-V']]] as const) {
    if (spawnSync(binary, [...args]).error) missing.push(binary);
  }
  return missing;
}

/**
 * `describe` when the mesh can run here; otherwise under CI=true the run fails (a missing
 * prerequisite must not pass silently), elsewhere the block is skipped with a message.
 */
export function describeMesh(): jest.Describe {
  const missing = missingMeshPrerequisites();
  if (missing.length === 0) return describe;
  const message = `mesh tests need ${missing.join(', ')} (run as root with apt-get install nebula iproute2 iputils-ping)`;
  if (process.env.CI === 'true') throw new Error(message);
  console.warn(`skipping: ${message}`);
  return describe.skip;
}
