import { main } from '../../src/cli/main';
import { parseDuration } from '../../src/cli/commands/proxy';

function capture() {
  const out = { stdout: '', stderr: '' };
  const io = { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} };
  return { out, io };
}

describe('gateway proxy flags', () => {
  it('names the missing or bad flag and exits 2 without starting', async () => {
    const cases: [string[], string][] = [
      [[], 'flag --domain is required'],
      [['--domain', 'bad domain'], 'flag --domain'],
      [['--domain', 'dev.example.com'], 'flag --tls-cert is required'],
      [['--domain', 'dev.example.com', '--tls-cert', '/nonexistent/c.pem', '--tls-key', 'k', '--routes', 'r', '--token-public-key', 'p'], 'flag --tls-cert: cannot read /nonexistent/c.pem'],
    ];
    for (const [argv, message] of cases) {
      const { out, io } = capture();
      expect(await main(['proxy', ...argv], io)).toBe(2);
      expect(out.stderr).toContain(message);
    }
  });

  it('lists the command and its flags in help', async () => {
    const { out, io } = capture();
    expect(await main(['--help'], io)).toBe(0);
    expect(out.stdout).toMatch(/proxy\s+run the HTTPS proxy/);
    const help = capture();
    expect(await main(['proxy', '--help'], help.io)).toBe(0);
    for (const flag of ['--tls-cert', '--tls-key', '--domain', '--listen', '--routes', '--token-public-key', '--websocket-idle-timeout']) expect(help.out.stdout).toContain(flag);
  });

  it('reads durations', () => {
    expect(parseDuration('x', '1500ms')).toBe(1500);
    expect(parseDuration('x', '90s')).toBe(90_000);
    expect(parseDuration('x', '2h')).toBe(7_200_000);
    expect(() => parseDuration('idle-timeout', '5 minutes')).toThrow(/--idle-timeout/);
  });
});
