import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { commands } from '../../src/cli/commands';

function capture() {
  const out = { stdout: '', stderr: '' };
  const io = { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} };
  return { out, io };
}

describe('gateway agent flags', () => {
  it.each([
    [['agent', 'enroll', '--api', 'http://127.0.0.1:9', '--dir', '/tmp/x'], 'flag --token is required'],
    [['agent', 'enroll', '--api', 'not a url', '--token', 't', '--dir', '/tmp/x'], 'flag --api must be a URL'],
    [['agent', 'enroll', '--api', 'http://h', '--token', 't', '--dir', '/tmp/x', '--log-format', 'xml'], 'flag --log-format must be text or json'],
    [['agent', 'run'], 'flag --dir is required'],
    [['agent', 'run', '--dir', '/tmp/x', '--wait', '61'], 'flag --wait must be'],
    [['agent', 'run', '--dir', '/tmp/x', '--backoff-max', '0'], 'flag --backoff-max must be'],
  ])('%j is refused naming the flag', async (argv, message) => {
    const { out, io } = capture();
    expect(await main(argv, io, commands)).toBe(2);
    expect(out.stderr).toContain(message);
  });

  it('takes the enrollment token from GATEWAY_ENROLL_TOKEN when --token is absent, and names both when neither is there', async () => {
    const empty = capture();
    expect(await main(['agent', 'enroll', '--api', 'http://127.0.0.1:9', '--dir', '/tmp/x'], { ...empty.io, env: { GATEWAY_ENROLL_TOKEN: '' } }, commands)).toBe(2);
    expect(empty.out.stderr).toContain('flag --token is required (or the token in GATEWAY_ENROLL_TOKEN)');
    const dir = mkdtempSync(join(tmpdir(), 'enroll-env-'));
    const fromEnv = capture();
    // Nothing listens on port 9: the enrollment gets as far as the network, so the token was taken.
    expect(await main(['agent', 'enroll', '--api', 'http://127.0.0.1:9', '--dir', dir], { ...fromEnv.io, env: { GATEWAY_ENROLL_TOKEN: 'gwe_x' } }, commands)).toBe(1);
    expect(fromEnv.out.stderr).not.toContain('flag --token');
    expect(fromEnv.out.stderr).not.toContain('gwe_x');
    rmSync(dir, { recursive: true, force: true });
  });

  it('says what is missing when run on a directory that was never enrolled', async () => {
    const { out, io } = capture();
    expect(await main(['agent', 'run', '--dir', '/nonexistent/agent-dir'], io, commands)).toBe(1);
    expect(out.stderr).toContain("run 'gateway agent enroll' first");
  });
});
