/**
 * `gateway proxy`'s certificate flags: files or a Secrets Manager secret, never both; a pair
 * that may not be served stops the start with the flag it came from named (exit 2); no test
 * here reaches Secrets Manager (a bad ARN is refused before any request).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { describeNeeding } from '../support/prerequisites';
import { makeTlsFixture, tempDir } from './support';

function capture() {
  const out = { stdout: '', stderr: '' };
  const io = { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} };
  return { out, io };
}

describeNeeding(['openssl'])('gateway proxy certificate flags', () => {
  const tmp = tempDir('proxy-tls-cli-');
  const fixture = makeTlsFixture(tmp.dir, 'cli.test');
  const otherTmp = tempDir('proxy-tls-cli-other-');
  const other = makeTlsFixture(otherTmp.dir, 'cli.test');
  const file = (name: string, text: string) => {
    writeFileSync(join(tmp.dir, name), text);
    return join(tmp.dir, name);
  };
  const cert = file('c.pem', fixture.cert);
  const key = file('k.pem', fixture.key);
  const otherKey = file('other.key', other.key);
  const rest = ['--routes', join(tmp.dir, 'routes.json'), '--token-public-key', join(tmp.dir, 'token.pub')];
  const ARN = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:gateway/proxy-tls-AbCdEf';
  afterAll(() => {
    tmp.cleanup();
    otherTmp.cleanup();
  });

  it('names the flag of a certificate that may not be served, and exits 2 without starting', async () => {
    const cases: [string[], string][] = [
      [['--domain', 'cli.test', '--tls-cert', cert, '--tls-key', '/nonexistent/k.pem', ...rest], 'flag --tls-key: cannot read /nonexistent/k.pem: ENOENT'],
      [['--domain', 'cli.test', '--tls-cert', cert, '--tls-key', cert, ...rest], 'flag --tls-key: the private key is not a PEM private key'],
      [['--domain', 'cli.test', '--tls-cert', cert, '--tls-key', otherKey, ...rest], 'flag --tls-cert: the private key does not belong to certificate'],
      [['--domain', 'other.test', '--tls-cert', cert, '--tls-key', key, ...rest], 'flag --tls-cert: certificate'],
      [['--domain', 'cli.test', '--tls-secret', ARN, '--tls-cert', cert, ...rest], 'flag --tls-secret: give either it or --tls-cert and --tls-key, not both'],
      [['--domain', 'cli.test', '--tls-secret', 'gateway/proxy-tls', ...rest], "flag --tls-secret: expected a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), got 'gateway/proxy-tls'"],
      [['--domain', 'cli.test', '--tls-cert', cert, '--tls-key', key, '--tls-reload', '15', ...rest], 'flag --tls-reload: expected a duration'],
    ];
    for (const [argv, message] of cases) {
      const { out, io } = capture();
      expect({ argv, code: await main(['proxy', ...argv], io) }).toEqual({ argv, code: 2 });
      expect({ argv, stderr: out.stderr }).toEqual({ argv, stderr: expect.stringContaining(message) });
      expect(out.stderr).not.toContain('PRIVATE KEY');
    }
  });

  it('lists the certificate flags in help', async () => {
    const { out, io } = capture();
    expect(await main(['proxy', '--help'], io)).toBe(0);
    for (const flag of ['--tls-secret ARN', '--tls-reload DUR', '(default 15m)']) expect(out.stdout).toContain(flag);
  });
});
