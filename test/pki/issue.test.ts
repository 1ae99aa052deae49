import {
  CAPool,
  createCA,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  parseIpv4Prefix,
  type Signer,
  signCertificate,
  type SignCertificateOptions,
} from '../../src/pki';
import { HOUR } from './support';

/** createCA and signCertificate: what they make, and every refusal with its reason. */
describe('issuing certificates', () => {
  const t0 = new Date('2030-01-01T00:00:00.750Z');
  const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
  let ca: NebulaCertificate;
  let base: SignCertificateOptions;

  beforeAll(async () => {
    ca = await createCA({ signer, name: 'CA', now: t0, duration: '10h', ips: ['10.42.0.1/16'], subnets: ['192.168.7.9/16'], groups: ['web', 'db'] });
    base = { ca, signer, name: 'h', ips: ['10.42.1.2/24'], groups: ['web'], publicKey: generateX25519KeyPair().publicKey, now: new Date(t0.getTime() + HOUR) };
  });

  it('makes a self-signed CA: whole seconds, host address kept in ips, subnets masked, no issuer', async () => {
    expect(ca.details).toMatchObject({ name: 'CA', isCA: true, issuer: '', groups: ['web', 'db'] });
    expect(ca.details.notBefore.toISOString()).toBe('2030-01-01T00:00:00.000Z');
    expect(ca.details.notAfter.toISOString()).toBe('2030-01-01T10:00:00.000Z');
    expect(ca.details.ips).toEqual([parseIpv4Prefix('10.42.0.1/16')]);
    expect(ca.details.subnets).toEqual([parseIpv4Prefix('192.168.0.0/16')]);
    expect(Buffer.from(ca.details.publicKey)).toEqual(Buffer.from(await signer.publicKey()));
    expect(ca.checkSignature(ca.details.publicKey)).toBe(true);
    expect(NebulaCertificate.unmarshal(ca.marshal()).details).toEqual(ca.details);
  });

  it('signs a host key that verifies; by default until one second before the CA expires', async () => {
    const cert = await signCertificate({ ...base, subnets: ['192.168.3.4/24'] });
    expect(cert.details).toMatchObject({ name: 'h', isCA: false, issuer: ca.fingerprint(), groups: ['web'] });
    expect(cert.details.subnets).toEqual([parseIpv4Prefix('192.168.3.0/24')]);
    expect(cert.details.notBefore.toISOString()).toBe('2030-01-01T01:00:00.000Z');
    expect(cert.details.notAfter.toISOString()).toBe('2030-01-01T09:59:59.000Z');
    expect(cert.expiresAt).toEqual(cert.details.notAfter);
    CAPool.fromPem(ca.toPem()).verify(NebulaCertificate.fromPem(cert.toPem()), { now: base.now });
    const short = await signCertificate({ ...base, duration: '1h30m' });
    expect(short.details.notAfter.toISOString()).toBe('2030-01-01T02:30:00.000Z');
    const until = await signCertificate({ ...base, notAfter: new Date('2030-01-01T05:00:00Z') });
    expect(until.details.notAfter.toISOString()).toBe('2030-01-01T05:00:00.000Z');
  });

  const refusals: [string, () => Partial<SignCertificateOptions> | Promise<Partial<SignCertificateOptions>>, string, string][] = [
    ['an empty name', () => ({ name: ' ' }), 'invalid-input', 'refusing to sign, name is required'],
    ['a short public key', () => ({ publicKey: new Uint8Array(31) }), 'invalid-key', 'refusing to sign, public key must be 32 bytes (X25519), got 31 bytes'],
    ['a long public key', () => ({ publicKey: new Uint8Array(64) }), 'invalid-key', 'refusing to sign, public key must be 32 bytes (X25519), got 64 bytes'],
    ['no IP', () => ({ ips: [] }), 'invalid-input', 'refusing to sign, at least one ip is required'],
    ['a malformed IP', () => ({ ips: ['10.42.1.300/24'] }), 'invalid-input', 'refusing to sign, invalid ip definition: invalid IPv4 CIDR "10.42.1.300/24": expected a.b.c.d/n'],
    ['an IP without prefix', () => ({ ips: ['10.42.1.2'] }), 'invalid-input', 'refusing to sign, invalid ip definition: invalid IPv4 CIDR "10.42.1.2": expected a.b.c.d/n'],
    ['a malformed subnet', () => ({ subnets: ['fe80::/64'] }), 'invalid-input', 'refusing to sign, invalid subnet definition: invalid IPv4 CIDR "fe80::/64": expected a.b.c.d/n'],
    ['an empty group', () => ({ groups: ['web', ''] }), 'invalid-input', 'refusing to sign, a group name must not be empty'],
    ['both notAfter and duration', () => ({ notAfter: new Date('2030-01-01T05:00:00Z'), duration: HOUR }), 'invalid-input', 'refusing to sign, give notAfter or duration, not both'],
    ['a zero duration', () => ({ duration: 0 }), 'invalid-input', 'refusing to sign, duration must be greater than 0'],
    ['a bad duration text', () => ({ duration: '1 hour' }), 'invalid-input', 'invalid duration "1 hour": expected e.g. 8760h, 30m, 1h30m'],
    ['notAfter before notBefore', () => ({ notAfter: new Date('2030-01-01T00:30:00Z') }), 'invalid-input', 'refusing to sign, notAfter must be after notBefore'],
    ['a host certificate as CA', async () => ({ ca: await signCertificate(base) }), 'not-ca', 'refusing to sign, the signing certificate is not a CA'],
    ['a signer holding another key', () => ({ signer: new LocalSigner(generateEd25519KeyPair().privateKey) }), 'key-mismatch', 'refusing to sign, root certificate does not match private key'],
    ['an expired CA', () => ({ now: new Date('2030-01-01T10:00:01Z'), notAfter: new Date('2030-01-01T11:00:00Z') }), 'ca-expired', 'ca certificate is expired'],
    ['an expired CA with the default validity', () => ({ now: new Date('2030-01-01T10:00:01Z') }), 'ca-expired', 'ca certificate is expired'],
    ['a CA not valid yet', () => ({ now: new Date('2029-12-31T23:59:59Z'), duration: HOUR }), 'ca-expired', 'ca certificate is not valid yet'],
    ['outliving the CA', () => ({ duration: '10h' }), 'outside-ca-validity', 'refusing to sign, root certificate constraints violated: certificate expires after signing certificate'],
    ['starting before the CA', () => ({ notBefore: new Date('2029-12-31T23:00:00Z'), duration: HOUR }), 'outside-ca-validity', 'refusing to sign, root certificate constraints violated: certificate is valid before the signing certificate'],
    ['a group the CA lacks', () => ({ groups: ['web', 'ops'] }), 'group-not-in-ca', 'refusing to sign, root certificate constraints violated: certificate contained a group not present on the signing ca: ops'],
    ['an IP outside the CA', () => ({ ips: ['10.43.1.2/24'] }), 'ip-outside-ca', 'refusing to sign, root certificate constraints violated: certificate contained an ip assignment outside the limitations of the signing ca: 10.43.1.2/24'],
    ['an IP wider than the CA', () => ({ ips: ['10.42.1.2/15'] }), 'ip-outside-ca', 'refusing to sign, root certificate constraints violated: certificate contained an ip assignment outside the limitations of the signing ca: 10.42.1.2/15'],
    ['a second IP outside the CA', () => ({ ips: ['10.42.1.2/24', '10.99.0.1/24'] }), 'ip-outside-ca', 'refusing to sign, root certificate constraints violated: certificate contained an ip assignment outside the limitations of the signing ca: 10.99.0.1/24'],
    ['a subnet outside the CA', () => ({ subnets: ['192.169.0.0/24'] }), 'subnet-outside-ca', 'refusing to sign, root certificate constraints violated: certificate contained a subnet assignment outside the limitations of the signing ca: 192.169.0.0/24'],
  ];
  it.each(refusals)('refuses %s', async (_label, change, code, message) => {
    await expect(signCertificate({ ...base, ...(await change()) })).rejects.toMatchObject({ name: 'PkiError', code, message });
  });

  it('refuses a signer whose key or signature is malformed', async () => {
    const badKey: Signer = { publicKey: async () => new Uint8Array(31), sign: async () => new Uint8Array(64) };
    await expect(signCertificate({ ...base, signer: badKey })).rejects.toThrow("signer's public key is 31 bytes, not a 32-byte Ed25519 key");
    const badSig: Signer = { publicKey: () => signer.publicKey(), sign: async () => new Uint8Array(63) };
    await expect(signCertificate({ ...base, signer: badSig })).rejects.toThrow('signer returned 63 bytes instead of a 64-byte Ed25519 signature');
  });

  it('has a CA without limits sign any group, IP and subnet; refuses CA input nebula-cert refuses', async () => {
    const open = await createCA({ signer, name: 'open', now: t0, notAfter: new Date('2030-02-01T00:00:00Z') });
    const cert = await signCertificate({ ...base, ca: open, ips: ['172.16.0.1/12'], groups: ['any'], subnets: ['0.0.0.0/0'] });
    CAPool.fromCertificates([open]).verify(cert, { now: base.now });
    await expect(createCA({ signer, name: '' , duration: HOUR })).rejects.toThrow('refusing to create CA, name is required');
    await expect(createCA({ signer, name: 'x' })).rejects.toThrow('refusing to create CA, notAfter or duration is required');
    await expect(createCA({ signer, name: 'x', duration: -1 })).rejects.toThrow('refusing to create CA, duration must be greater than 0');
    await expect(createCA({ signer, name: 'x', duration: HOUR, ips: ['10.0.0.0/33'] })).rejects.toThrow('refusing to create CA, invalid ips definition');
  });
});

describe('CAPool.verify rules the CLI cannot show', () => {
  const t0 = new Date('2030-01-01T00:00:00Z');
  const signer = new LocalSigner(generateEd25519KeyPair().privateKey);

  it('checks the blocklist first, then the CA, then the certificate, at the given time, both ends inclusive', async () => {
    const ca = await createCA({ signer, name: 'CA', now: t0, duration: '2h' });
    const cert = await signCertificate({ ca, signer, name: 'h', ips: ['10.0.0.1/8'], publicKey: generateX25519KeyPair().publicKey, now: t0, duration: HOUR });
    const pool = CAPool.fromCertificates([ca]);
    const at = (iso: string) => ({ now: new Date(iso) });
    expect(() => pool.verify(cert, { ...at('2030-01-01T00:30:00Z'), blocklist: [cert.fingerprint()] })).toThrow(expect.objectContaining({ code: 'blocked', message: 'certificate has been blocked' }));
    expect(() => pool.verify(cert, { ...at('2030-01-01T00:30:00Z'), blocklist: new Set([cert.fingerprint()]) })).toThrow('certificate has been blocked');
    expect(() => pool.verify(cert, { ...at('2030-01-01T03:00:00Z'), blocklist: [cert.fingerprint()] })).toThrow('certificate has been blocked');
    pool.verify(cert, { ...at('2030-01-01T00:30:00Z'), blocklist: [ca.fingerprint()] });
    expect(() => pool.verify(cert, at('2030-01-01T02:00:01Z'))).toThrow(expect.objectContaining({ code: 'ca-expired', message: 'root certificate is expired' }));
    expect(() => pool.verify(cert, at('2030-01-01T01:00:01Z'))).toThrow(expect.objectContaining({ code: 'expired', message: 'certificate is expired' }));
    expect(() => pool.verify(cert, at('2029-12-31T23:59:59Z'))).toThrow('root certificate is expired');
    pool.verify(cert, at('2030-01-01T00:00:00Z'));
    pool.verify(cert, at('2030-01-01T01:00:00Z'));
    expect(pool.caFor(cert)).toBe(ca);
    expect(pool.fingerprints).toEqual([ca.fingerprint()]);
    expect(pool.expired(new Date('2030-01-01T02:00:01Z'))).toEqual([ca]);
  });
});
