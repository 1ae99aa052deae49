import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { makeTlsFixture } from '../proxy/support';
import { captureIo } from '../support/cli';

/** The flags of the saved route table (`gateway proxy`) and of host key rotation (`gateway agent run`). */
describe('--state-dir, --routes-max-age and --key-rotation-days', () => {
  const dir = mkdtempSync(join(tmpdir(), 'cli-flags-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gateway proxy: names the flag, exits 2 and starts nothing', async () => {
    const tls = makeTlsFixture(dir, 'dev.example.com');
    writeFileSync(join(dir, 'tls.crt'), tls.cert);
    writeFileSync(join(dir, 'tls.key'), tls.key);
    writeFileSync(join(dir, 'routes.json'), '{"version":"1","routes":[]}');
    writeFileSync(join(dir, 'token.pub'), generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }));
    const base = ['proxy', '--domain', 'dev.example.com', '--tls-cert', join(dir, 'tls.crt'), '--tls-key', join(dir, 'tls.key'), '--token-public-key', join(dir, 'token.pub'), '--listen', '127.0.0.1:0'];
    const cases: [string[], string][] = [
      [['--routes', join(dir, 'routes.json'), '--state-dir', join(dir, 'state')], 'flag --state-dir: only with a /v1/routes URL'],
      [['--routes', 'http://127.0.0.1:9/v1/routes', '--state-dir', join(dir, 'tls.crt', 'under-a-file')], 'flag --state-dir: cannot create'],
      [['--routes', 'http://127.0.0.1:9/v1/routes', '--routes-max-age', 'a day'], 'flag --routes-max-age'],
      [['--routes', 'http://127.0.0.1:9/v1/routes', '--routes-max-age', '0s'], 'flag --routes-max-age: must be more than zero'],
    ];
    for (const [argv, message] of cases) {
      const { out, io } = captureIo();
      expect(await main([...base, ...argv], io)).toBe(2);
      expect(out.stderr).toContain(message);
    }
  });

  it('gateway agent run: --key-rotation-days must be 0 or more days', async () => {
    for (const value of ['-1', 'monthly', 'NaN', 'Infinity']) {
      const { out, io } = captureIo();
      expect(await main(['agent', 'run', '--dir', join(dir, 'agent'), `--key-rotation-days=${value}`], io)).toBe(2);
      expect(out.stderr).toContain('flag --key-rotation-days must be a number of days, 0 or more');
    }
    const help = captureIo();
    expect(await main(['agent', 'run', '--help'], help.io)).toBe(0);
    expect(help.out.stdout).toMatch(/--key-rotation-days D[\s\S]*default 30[\s\S]*SIGUSR2/);
  });
});
