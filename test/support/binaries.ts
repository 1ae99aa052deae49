import { spawnSync } from 'node:child_process';

/**
 * Whether an executable is on PATH. In CI (`CI=true`) a missing one fails the test loudly; elsewhere
 * the caller skips, and this says what is missing.
 */
export function haveBinary(name: string): boolean {
  const found = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).status === 0;
  if (!found) {
    const message = `${name} is not installed (apt-get install nebula); tests that need it are skipped`;
    if (process.env.CI === 'true') throw new Error(`CI: ${message.replace('are skipped', 'cannot run')}`);
    process.stderr.write(`${message}\n`);
  }
  return found;
}
