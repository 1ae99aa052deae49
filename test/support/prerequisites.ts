import { spawnSync } from 'node:child_process';

/** `root`, or an executable the tests run. nebula and nebula-cert must be the 1.6.1 the project targets. */
export type Prerequisite = 'root' | 'nebula' | 'nebula-cert' | 'ip' | 'ping' | 'openssl' | 'chromium' | 'shellcheck' | 'systemd-analyze' | 'iptables' | 'ssh' | 'nft' | 'conntrack' | 'curl' | 'unshare';

const INSTALL = 'run as root after apt-get install nebula iproute2 iputils-ping chromium shellcheck systemd nftables conntrack';

/** Which of `needs` this machine lacks; empty when all is there. */
export function missingPrerequisites(needs: readonly Prerequisite[]): string[] {
  return needs.filter((need) => !present(need)).map((need) => (need === 'nebula' || need === 'nebula-cert' ? `${need} 1.6.1` : need));
}

function present(need: Prerequisite): boolean {
  if (need === 'root') return process.getuid?.() === 0;
  if (need === 'nebula' || need === 'nebula-cert') {
    return /\b1\.6\.1\b/.test(spawnSync(need, ['-version'], { encoding: 'utf8' }).stdout ?? '');
  }
  return spawnSync('sh', ['-c', `command -v ${need}`]).status === 0;
}

/**
 * Whether tests that need `needs` can run. Under CI=true a missing prerequisite throws, so a CI
 * run can never pass by skipping; elsewhere this warns with what is missing and the caller skips.
 */
export function havePrerequisites(needs: readonly Prerequisite[]): boolean {
  const missing = missingPrerequisites(needs);
  if (missing.length === 0) return true;
  const message = `these tests need ${missing.join(', ')} (${INSTALL})`;
  if (process.env.CI === 'true') throw new Error(`CI: ${message}`);
  console.warn(`skipping: ${message}`);
  return false;
}

/** `describe` when `needs` are there, else (outside CI) `describe.skip`; see havePrerequisites. */
export function describeNeeding(needs: readonly Prerequisite[]): jest.Describe {
  return havePrerequisites(needs) ? describe : describe.skip;
}
