import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  CAPool,
  type CertificateDetails,
  createCA,
  encodeEd25519PrivateKeyPem,
  encodeX25519PublicKeyPem,
  formatCertificateJson,
  formatCertificateText,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  parseCertificateBundle,
  parseIpv4Prefix,
  parseX25519PrivateKeyPem,
  parseX25519PublicKeyPem,
  type PkiError,
  signCertificate,
  x25519PublicKeyFromPrivate,
} from '../../src/pki';
import { describeWithNebulaCert, forge, HOUR, nebulaCert, tempDir } from './support';

/** Interop with the real nebula-cert 1.6.1, both ways. */
describeWithNebulaCert('interop with nebula-cert 1.6.1', () => {
  const dir = tempDir();
  const path = (name: string) => join(dir.path, name);
  const write = (name: string, text: string) => {
    writeFileSync(path(name), text);
    return name;
  };
  const run = (...args: string[]) => nebulaCert(dir.path, args);
  let caKey: ReturnType<typeof generateEd25519KeyPair>;
  let signer: LocalSigner;
  let ca: NebulaCertificate;

  beforeAll(async () => {
    caKey = generateEd25519KeyPair();
    signer = new LocalSigner(caKey.privateKey);
    ca = await createCA({
      signer,
      name: 'Our CA',
      duration: 4 * HOUR,
      ips: ['10.42.0.0/16'],
      subnets: ['192.168.0.0/16'],
      groups: ['web', 'db', 'ops'],
    });
    write('ca.crt', ca.toPem());
    write('ca.key', encodeEd25519PrivateKeyPem(caKey.privateKey));
    expect(run('ca', '-name', 'Their CA', '-duration', '4h', '-groups', 'web,db', '-ips', '10.50.0.0/16', '-out-crt', 'neb-ca.crt', '-out-key', 'neb-ca.key').status).toBe(0);
  });
  afterAll(() => dir.remove());

  it('accepts what we sign: nebula-cert verify passes, print shows our fields and fingerprint', async () => {
    const variants = [
      { name: 'host1', ips: ['10.42.1.5/16'], groups: ['web', 'ops'], subnets: ['192.168.10.0/24'] },
      { name: 'bare', ips: ['10.42.200.1/24'] },
      { name: 'hôst <&> ü', ips: ['10.42.0.9/32'], groups: ['db'], subnets: ['192.168.1.0/24', '192.168.2.0/24'] },
    ];
    for (const [i, v] of variants.entries()) {
      const cert = await signCertificate({ ca, signer, ...v, publicKey: generateX25519KeyPair().publicKey, duration: HOUR });
      const file = write(`ours-${i}.crt`, cert.toPem());
      const verify = run('verify', '-ca', 'ca.crt', '-crt', file);
      expect(verify.stderr).toBe('');
      expect(verify.status).toBe(0);
      const json = run('print', '-json', '-path', file).stdout;
      expect(json).toBe(`${formatCertificateJson(cert)}\n`);
      expect(JSON.parse(json)).toMatchObject({ fingerprint: cert.fingerprint(), details: { name: v.name, issuer: ca.fingerprint() } });
      expect(run('print', '-path', file).stdout).toBe(`${formatCertificateText(cert)}\n`);
    }
    expect(run('print', '-json', '-path', 'ca.crt').stdout).toBe(`${formatCertificateJson(ca)}\n`);
  });

  it("decodes and verifies what nebula-cert makes, to the same fields, bytes and fingerprint", () => {
    expect(run('sign', '-ca-crt', 'neb-ca.crt', '-ca-key', 'neb-ca.key', '-name', 'theirs', '-ip', '10.50.3.4/16', '-groups', 'web,db', '-subnets', '10.60.0.0/24', '-out-crt', 'theirs.crt', '-out-key', 'theirs.key').status).toBe(0);
    const caText = readFileSync(path('neb-ca.crt'), 'utf8');
    const certText = readFileSync(path('theirs.crt'), 'utf8');
    const theirCA = NebulaCertificate.fromPem(caText);
    const cert = NebulaCertificate.fromPem(certText);
    CAPool.fromPem(caText).verify(cert);
    expect(cert.toPem()).toBe(certText);
    expect(theirCA.toPem()).toBe(caText);
    expect(`${formatCertificateJson(cert)}\n`).toBe(run('print', '-json', '-path', 'theirs.crt').stdout);
    expect(`${formatCertificateJson(theirCA)}\n`).toBe(run('print', '-json', '-path', 'neb-ca.crt').stdout);
    expect(cert.details).toMatchObject({ name: 'theirs', groups: ['web', 'db'], isCA: false, issuer: theirCA.fingerprint() });
    expect(cert.details.ips).toEqual([parseIpv4Prefix('10.50.3.4/16')]);
    expect(cert.details.subnets).toEqual([parseIpv4Prefix('10.60.0.0/24')]);
    // nebula-cert writes unclamped X25519 scalars; ours must derive the same public key.
    const privateKey = parseX25519PrivateKeyPem(readFileSync(path('theirs.key'), 'utf8'));
    expect(Buffer.from(x25519PublicKeyFromPrivate(privateKey))).toEqual(Buffer.from(cert.details.publicKey));
  });

  it('crosses keys: our CA signs a nebula-cert public key; nebula-cert signs with our CA key and our public key', async () => {
    expect(run('keygen', '-out-key', 'kg.key', '-out-pub', 'kg.pub').status).toBe(0);
    const theirPub = parseX25519PublicKeyPem(readFileSync(path('kg.pub'), 'utf8'));
    expect(Buffer.from(x25519PublicKeyFromPrivate(parseX25519PrivateKeyPem(readFileSync(path('kg.key'), 'utf8'))))).toEqual(Buffer.from(theirPub));
    const cert = await signCertificate({ ca, signer, name: 'kg', ips: ['10.42.7.7/16'], publicKey: theirPub, duration: HOUR });
    write('kg.crt', cert.toPem());
    expect(run('verify', '-ca', 'ca.crt', '-crt', 'kg.crt').status).toBe(0);

    const ourPair = generateX25519KeyPair();
    write('our.pub', encodeX25519PublicKeyPem(ourPair.publicKey));
    const signed = run('sign', '-ca-crt', 'ca.crt', '-ca-key', 'ca.key', '-name', 'x', '-ip', '10.42.9.9/16', '-groups', 'ops', '-in-pub', 'our.pub', '-out-crt', 'x.crt');
    expect(signed.stderr).toBe('');
    const theirs = NebulaCertificate.fromPem(readFileSync(path('x.crt'), 'utf8'));
    CAPool.fromPem(ca.toPem()).verify(theirs);
    expect(Buffer.from(theirs.details.publicKey)).toEqual(Buffer.from(ourPair.publicKey));

    // A LocalSigner over nebula-cert's CA key signs what nebula-cert accepts.
    const theirCA = NebulaCertificate.fromPem(readFileSync(path('neb-ca.crt'), 'utf8'));
    const theirSigner = LocalSigner.fromPem(readFileSync(path('neb-ca.key'), 'utf8'));
    const mine = await signCertificate({ ca: theirCA, signer: theirSigner, name: 'y', ips: ['10.50.1.1/16'], groups: ['db'], publicKey: ourPair.publicKey, duration: HOUR });
    write('y.crt', mine.toPem());
    expect(run('verify', '-ca', 'neb-ca.crt', '-crt', 'y.crt').status).toBe(0);
  });

  describe('every verification rule fails with nebula-cert verify\'s message', () => {
    const now = () => Date.now();
    const secondsAgo = (s: number) => new Date(Math.floor(now() / 1000) * 1000 - s * 1000);
    const host = (over: Partial<CertificateDetails>): CertificateDetails => ({
      name: 'forged',
      ips: [parseIpv4Prefix('10.42.1.1/16')],
      subnets: [],
      groups: ['web'],
      notBefore: ca.details.notBefore,
      notAfter: new Date(ca.details.notBefore.getTime() + HOUR),
      publicKey: generateX25519KeyPair().publicKey,
      isCA: false,
      issuer: ca.fingerprint(),
      ...over,
    });
    const other = () => new LocalSigner(generateEd25519KeyPair().privateKey);
    const cases: [string, () => NebulaCertificate, PkiError['code'], string][] = [
      ['no issuer', () => forge(host({ issuer: '' }), signer), 'no-issuer', 'no issuer in certificate'],
      ['unknown issuer', () => forge(host({ issuer: 'ab'.repeat(32) }), signer), 'unknown-ca', 'could not find ca for the certificate'],
      ['expired', () => forge(host({ notAfter: secondsAgo(1) }), signer), 'expired', 'certificate is expired'],
      ['not yet valid', () => forge(host({ notBefore: new Date(now() + HOUR) , notAfter: new Date(now() + 2 * HOUR) }), signer), 'expired', 'certificate is expired'],
      ['signed by another key', () => forge(host({}), other()), 'signature-mismatch', 'certificate signature did not match'],
      ['outlives its CA', () => forge(host({ notAfter: new Date(ca.details.notAfter.getTime() + 1000) }), signer), 'outside-ca-validity', 'certificate expires after signing certificate'],
      ['starts before its CA', () => forge(host({ notBefore: new Date(ca.details.notBefore.getTime() - 1000) }), signer), 'outside-ca-validity', 'certificate is valid before the signing certificate'],
      ['group the CA lacks', () => forge(host({ groups: ['web', 'admin'] }), signer), 'group-not-in-ca', 'certificate contained a group not present on the signing ca: admin'],
      ['IP outside the CA', () => forge(host({ ips: [parseIpv4Prefix('10.43.0.1/16')] }), signer), 'ip-outside-ca', 'certificate contained an ip assignment outside the limitations of the signing ca: 10.43.0.1/16'],
      ['IP mask wider than the CA', () => forge(host({ ips: [parseIpv4Prefix('10.42.0.1/8')] }), signer), 'ip-outside-ca', 'certificate contained an ip assignment outside the limitations of the signing ca: 10.42.0.1/8'],
      ['subnet outside the CA', () => forge(host({ subnets: [parseIpv4Prefix('172.16.0.0/24')] }), signer), 'subnet-outside-ca', 'certificate contained a subnet assignment outside the limitations of the signing ca: 172.16.0.0/24'],
      // Several faults: the first in nebula's order wins.
      ['expired and badly signed', () => forge(host({ notAfter: secondsAgo(1), groups: ['admin'] }), other()), 'expired', 'certificate is expired'],
      ['badly signed with a foreign group', () => forge(host({ groups: ['admin'] }), other()), 'signature-mismatch', 'certificate signature did not match'],
      ['outliving the CA with a foreign group', () => forge(host({ groups: ['admin'], notAfter: new Date(ca.details.notAfter.getTime() + 1000) }), signer), 'outside-ca-validity', 'certificate expires after signing certificate'],
    ];
    it.each(cases)('%s', (label, make, code, message) => {
      const cert = make();
      const file = write(`forged-${label.replace(/\W+/g, '-')}.crt`, cert.toPem());
      const theirs = run('verify', '-ca', 'ca.crt', '-crt', file);
      expect(theirs.status).toBe(1);
      expect(theirs.stderr).toBe(`Error: ${message}\n`);
      expect(() => CAPool.fromPem(ca.toPem()).verify(cert)).toThrow(expect.objectContaining({ name: 'PkiError', code, message }));
    });

    it('refuses bundles holding a non-CA, a CA not self-signed, or an expired CA', async () => {
      const leaf = await signCertificate({ ca, signer, name: 'leaf', ips: ['10.42.3.3/16'], publicKey: generateX25519KeyPair().publicKey, duration: HOUR });
      const notSelf = forge({ ...ca.details, name: 'impostor' }, other());
      const expiredKey = other();
      const expired = forge({ ...ca.details, name: 'old', notBefore: secondsAgo(7200), notAfter: secondsAgo(3600), publicKey: new Uint8Array(await expiredKey.publicKey()) }, expiredKey);
      write('leaf.crt', leaf.toPem());
      for (const [bundle, message] of [
        [leaf, 'leaf: certificate is not a CA'],
        [notSelf, 'impostor: certificate is not self-signed'],
      ] as const) {
        const file = write(`bundle-${bundle.details.name}.crt`, ca.toPem() + bundle.toPem());
        expect(run('verify', '-ca', file, '-crt', 'leaf.crt').stderr).toBe(`Error: error while adding ca cert to pool: ${message}\n`);
        expect(() => CAPool.fromPem(ca.toPem() + bundle.toPem())).toThrow(message);
      }
      const file = write('bundle-old.crt', ca.toPem() + expired.toPem());
      expect(run('verify', '-ca', file, '-crt', 'leaf.crt').stderr).toBe('Error: error while adding ca cert to pool: old: certificate is expired\n');
      const pool = CAPool.fromPem(ca.toPem() + expired.toPem());
      expect(pool.expired().map((c) => c.details.name)).toEqual(['old']);
      expect(parseCertificateBundle(ca.toPem() + expired.toPem())).toHaveLength(2);
    });
  });
});
