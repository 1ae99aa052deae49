import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import {
  createCA,
  encodeEd25519PrivateKeyPem,
  encodeX25519PublicKeyPem,
  generateEd25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  parseX25519PrivateKeyPem,
  parseX25519PublicKeyPem,
  x25519PublicKeyFromPrivate,
} from '../../src/pki';
import { describeWithNebulaCert, nebulaCert, tempDir } from '../pki/support';

/** `gateway ca create | keygen | cert sign | cert print | cert verify`, in-process and as a real process. */

async function gateway(...argv: string[]) {
  const out = { stdout: '', stderr: '' };
  const io = { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env: {} };
  const status = await main(argv, io);
  return { status, ...out };
}

const mode = (path: string) => statSync(path).mode & 0o777;

describeWithNebulaCert('gateway certificate commands', () => {
  const dir = tempDir();
  const p = (name: string) => join(dir.path, name);
  afterAll(() => dir.remove());

  beforeAll(async () => {
    const r = await gateway('ca', 'create', '-name', 'CLI CA', '-duration', '2h', '-ips', '10.9.0.0/16', '-subnets', '192.168.0.0/16', '-groups', 'web, db,', '-out-crt', p('ca.crt'), '-out-key', p('ca.key'));
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('ca create writes a CA nebula-cert reads and a 0600 key that matches it', async () => {
    const ca = NebulaCertificate.fromPem(readFileSync(p('ca.crt'), 'utf8'));
    expect(ca.details).toMatchObject({ name: 'CLI CA', isCA: true, groups: ['web', 'db'] });
    expect(ca.details.notAfter.getTime() - ca.details.notBefore.getTime()).toBeGreaterThanOrEqual(2 * 3_600_000 - 1000);
    expect(mode(p('ca.key'))).toBe(0o600);
    expect(Buffer.from(await LocalSigner.fromPem(readFileSync(p('ca.key'), 'utf8')).publicKey())).toEqual(Buffer.from(ca.details.publicKey));
    const json = JSON.parse(nebulaCert(dir.path, ['print', '-json', '-path', 'ca.crt']).stdout);
    expect(json).toMatchObject({ fingerprint: ca.fingerprint(), details: { ips: ['10.9.0.0/16'], subnets: ['192.168.0.0/16'], isCa: true } });
  });

  it.each([
    [['-duration', '1h'], 2, 'flag --name is required'],
    [['-name', 'x', '-duration', '1 day'], 2, 'flag --duration: invalid duration "1 day": expected e.g. 8760h, 30m, 1h30m'],
    [['-name', 'x', '-duration', '0s'], 2, 'flag --duration must be greater than 0'],
    [['-name', 'x', '-ips', '10.0.0.0/8,10.1.0.0'], 2, 'flag --ips: invalid IPv4 CIDR "10.1.0.0": expected a.b.c.d/n'],
    [['-name', 'x', '-subnets', 'x'], 2, 'flag --subnets: invalid IPv4 CIDR "x": expected a.b.c.d/n'],
    [['-name', 'x', '-bogus'], 2, 'unknown flag --bogus'],
  ])('ca create %j fails naming the flag', async (args, status, message) => {
    const r = await gateway('ca', 'create', ...args, '-out-crt', p('never.crt'), '-out-key', p('never.key'));
    expect(r.status).toBe(status);
    expect(r.stderr).toContain(message);
    expect(existsSync(p('never.crt')) || existsSync(p('never.key'))).toBe(false);
  });

  it('ca create refuses to overwrite and then writes nothing', async () => {
    writeFileSync(p('taken.key'), 'mine');
    const r = await gateway('ca', 'create', '-name', 'x', '-out-crt', p('fresh.crt'), '-out-key', p('taken.key'));
    expect(r).toMatchObject({ status: 1, stderr: `gateway ca create: refusing to overwrite existing CA key: ${p('taken.key')}\n` });
    expect(readFileSync(p('taken.key'), 'utf8')).toBe('mine');
    expect(existsSync(p('fresh.crt'))).toBe(false);
  });

  it('keygen writes a matching pair, the private key 0600; refuses missing flags and overwriting', async () => {
    expect((await gateway('keygen', '--out-key', p('h.key'), '--out-pub', p('h.pub'))).status).toBe(0);
    const priv = parseX25519PrivateKeyPem(readFileSync(p('h.key'), 'utf8'));
    expect(Buffer.from(x25519PublicKeyFromPrivate(priv))).toEqual(Buffer.from(parseX25519PublicKeyPem(readFileSync(p('h.pub'), 'utf8'))));
    expect(mode(p('h.key'))).toBe(0o600);
    expect(await gateway('keygen', '--out-key', p('k2.key'))).toMatchObject({ status: 2, stderr: expect.stringContaining('flag --out-pub is required') });
    expect(await gateway('keygen', '--out-key', p('k2.key'), '--out-pub', p('h.pub'))).toMatchObject({ status: 1, stderr: expect.stringContaining(`refusing to overwrite existing public key: ${p('h.pub')}`) });
    expect(existsSync(p('k2.key'))).toBe(false);
  });

  it('cert sign signs a public key (nebula-cert verify agrees) or makes the key pair itself', async () => {
    const ca = ['-ca-crt', p('ca.crt'), '-ca-key', p('ca.key')];
    const withPub = await gateway('cert', 'sign', ...ca, '-name', 'h', '-ip', '10.9.1.1/16', '-groups', 'web', '-subnets', '192.168.5.5/24', '-in-pub', p('h.pub'), '-out-crt', p('h.crt'), '-duration', '1h');
    expect(withPub.status).toBe(0);
    const cert = NebulaCertificate.fromPem(readFileSync(p('h.crt'), 'utf8'));
    expect(withPub.stdout).toBe(`wrote ${p('h.crt')}; fingerprint ${cert.fingerprint()}\n`);
    expect(cert.details.notAfter.getTime() - cert.details.notBefore.getTime()).toBe(3_600_000);
    expect(nebulaCert(dir.path, ['verify', '-ca', 'ca.crt', '-crt', 'h.crt']).status).toBe(0);
    expect(JSON.parse(nebulaCert(dir.path, ['print', '-json', '-path', 'h.crt']).stdout).details).toMatchObject({ name: 'h', subnets: ['192.168.5.0/24'], groups: ['web'] });

    const made = await gateway('cert', 'sign', ...ca, '-name', 'g', '-ip', '10.9.1.2/16', '-out-crt', p('g.crt'), '-out-key', p('g.key'), '-out-pub', p('g.pub'));
    expect(made.status).toBe(0);
    const g = NebulaCertificate.fromPem(readFileSync(p('g.crt'), 'utf8'));
    const caCert = NebulaCertificate.fromPem(readFileSync(p('ca.crt'), 'utf8'));
    expect(g.details.notAfter.getTime()).toBe(caCert.details.notAfter.getTime() - 1000);
    expect(mode(p('g.key'))).toBe(0o600);
    expect(Buffer.from(x25519PublicKeyFromPrivate(parseX25519PrivateKeyPem(readFileSync(p('g.key'), 'utf8'))))).toEqual(Buffer.from(g.details.publicKey));
    expect(Buffer.from(parseX25519PublicKeyPem(readFileSync(p('g.pub'), 'utf8')))).toEqual(Buffer.from(g.details.publicKey));
  });

  it('cert sign fails naming the flag or the rule, and writes nothing', async () => {
    const other = generateEd25519KeyPair();
    writeFileSync(p('other.key'), encodeEd25519PrivateKeyPem(other.privateKey));
    writeFileSync(p('ed.pub'), encodeX25519PublicKeyPem(new Uint8Array(32)).replace(/X25519/g, 'ED25519'));
    writeFileSync(p('exists.crt'), 'x');
    const ca = ['-ca-crt', p('ca.crt'), '-ca-key', p('ca.key')];
    const out = ['-out-crt', p('none.crt'), '-out-key', p('none.key')];
    const cases: [string[], number, string][] = [
      [[...ca, '-ip', '10.9.0.1/16', ...out], 2, 'flag --name is required'],
      [[...ca, '-name', 'n', ...out], 2, 'flag --ip is required'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1', ...out], 2, 'flag --ip: invalid IPv4 CIDR "10.9.0.1": expected a.b.c.d/n'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16,10.9.0.2/16', ...out], 2, 'flag --ip takes one IPv4 CIDR'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16', '-in-pub', p('h.pub'), '-out-key', p('none.key')], 2, 'cannot set both --in-pub and --out-key'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16', '-duration', 'soon', ...out], 2, 'flag --duration: invalid duration "soon"'],
      [['-ca-crt', p('ca.crt'), '-ca-key', p('missing.key'), '-name', 'n', '-ip', '10.9.0.1/16', ...out], 1, `error while reading --ca-key ${p('missing.key')}: ENOENT`],
      [['-ca-crt', p('ca.crt'), '-ca-key', p('h.pub'), '-name', 'n', '-ip', '10.9.0.1/16', ...out], 1, `error while parsing --ca-key ${p('h.pub')}: expected a NEBULA ED25519 PRIVATE KEY PEM block, found NEBULA X25519 PUBLIC KEY`],
      [['-ca-crt', p('h.crt'), '-ca-key', p('ca.key'), '-name', 'n', '-ip', '10.9.0.1/16', ...out], 1, 'refusing to sign, the signing certificate is not a CA'],
      [['-ca-crt', p('ca.crt'), '-ca-key', p('other.key'), '-name', 'n', '-ip', '10.9.0.1/16', ...out], 1, 'refusing to sign, root certificate does not match private key'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16', '-in-pub', p('ed.pub'), '-out-crt', p('none.crt')], 1, `error while parsing --in-pub ${p('ed.pub')}: expected a NEBULA X25519 PUBLIC KEY PEM block, found NEBULA ED25519 PUBLIC KEY`],
      [[...ca, '-name', 'n', '-ip', '10.8.0.1/16', ...out], 1, 'refusing to sign, root certificate constraints violated: certificate contained an ip assignment outside the limitations of the signing ca: 10.8.0.1/16'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16', '-groups', 'web,ops', ...out], 1, 'refusing to sign, root certificate constraints violated: certificate contained a group not present on the signing ca: ops'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16', '-subnets', '10.0.0.0/8', ...out], 1, 'certificate contained a subnet assignment outside the limitations of the signing ca: 10.0.0.0/8'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16', '-duration', '3h', ...out], 1, 'certificate expires after signing certificate'],
      [[...ca, '-name', 'n', '-ip', '10.9.0.1/16', '-out-crt', p('exists.crt'), '-out-key', p('none.key')], 1, `refusing to overwrite existing cert: ${p('exists.crt')}`],
    ];
    for (const [args, status, message] of cases) {
      const r = await gateway('cert', 'sign', ...args);
      expect({ args, status: r.status, stderr: r.stderr }).toEqual({ args, status, stderr: expect.stringContaining(message) });
    }
    expect(existsSync(p('none.crt')) || existsSync(p('none.key'))).toBe(false);
  });

  it("cert print prints every certificate like nebula-cert print, text and -json", async () => {
    writeFileSync(p('bundle.crt'), readFileSync(p('ca.crt'), 'utf8') + readFileSync(p('h.crt'), 'utf8'));
    const env = { ...process.env, TZ: 'UTC' };
    for (const flags of [[], ['-json']]) {
      const ours = await gateway('cert', 'print', '-path', p('bundle.crt'), ...flags);
      expect(ours.status).toBe(0);
      const theirs = spawnSync('nebula-cert', ['print', '-path', p('bundle.crt'), ...flags], { encoding: 'utf8', env });
      expect(ours.stdout).toBe(theirs.stdout);
      expect(ours.stdout.split('\n').filter((l) => l.includes('Fingerprint') || l.startsWith('{'))).toHaveLength(2);
    }
    expect(await gateway('cert', 'print')).toMatchObject({ status: 2, stderr: expect.stringContaining('flag --path is required') });
    expect(await gateway('cert', 'print', '-path', p('h.key'))).toMatchObject({ status: 1, stderr: expect.stringContaining('bytes did not contain a proper nebula certificate banner (found NEBULA X25519 PRIVATE KEY)') });
  });

  it('cert verify passes a good certificate and fails with nebula\'s message', async () => {
    const ok = await gateway('cert', 'verify', '-ca', p('ca.crt'), '-crt', p('h.crt'));
    expect(ok).toMatchObject({ status: 0, stdout: expect.stringContaining('valid: h (fingerprint ') });
    const otherKey = generateEd25519KeyPair();
    const otherCA = await createCA({ signer: new LocalSigner(otherKey.privateKey), name: 'other', duration: '1h' });
    writeFileSync(p('other.crt'), otherCA.toPem());
    expect(await gateway('cert', 'verify', '-ca', p('other.crt'), '-crt', p('h.crt'))).toMatchObject({ status: 1, stderr: 'gateway cert verify: could not find ca for the certificate\n' });
    const now = Date.now();
    const old = await createCA({ signer: new LocalSigner(otherKey.privateKey), name: 'old', notBefore: new Date(now - 7_200_000), notAfter: new Date(now - 3_600_000), now: new Date(now - 7_200_000) });
    writeFileSync(p('old-bundle.crt'), readFileSync(p('ca.crt'), 'utf8') + old.toPem());
    expect(await gateway('cert', 'verify', '-ca', p('old-bundle.crt'), '-crt', p('h.crt'))).toMatchObject({ status: 1, stderr: 'gateway cert verify: error while adding ca cert to pool: old: certificate is expired\n' });
    expect(await gateway('cert', 'verify', '-ca', p('ca.crt'))).toMatchObject({ status: 2, stderr: expect.stringContaining('flag --crt is required') });
  });

  it('works as a real process: node bin/gateway.js with nebula-cert default file names', () => {
    const bin = join(__dirname, '../../bin/gateway.js');
    const run = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: dir.path, encoding: 'utf8' });
    const sub = tempDir();
    try {
      const inSub = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { cwd: sub.path, encoding: 'utf8' });
      expect(inSub('ca', 'create', '--name', 'proc CA').status).toBe(0);
      expect(inSub('cert', 'sign', '-name', 'web1', '-ip', '10.1.1.1/24').status).toBe(0);
      expect(existsSync(join(sub.path, 'web1.crt')) && existsSync(join(sub.path, 'web1.key'))).toBe(true);
      expect(nebulaCert(sub.path, ['verify', '-ca', 'ca.crt', '-crt', 'web1.crt']).status).toBe(0);
      expect(inSub('cert', 'verify', '-ca', 'ca.crt', '-crt', 'web1.crt').status).toBe(0);
      const fail = inSub('cert', 'sign', '-name', 'web1', '-ip', '10.1.1.1/24');
      expect(fail.status).toBe(1);
      expect(fail.stderr).toBe('gateway cert sign: refusing to overwrite existing cert: web1.crt\n');
    } finally {
      sub.remove();
    }
    expect(run('cert', 'print', '-json').status).toBe(2);
  });
});
