import { createHash } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  type CertificateDetails,
  createCA,
  encodePem,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  type Ipv4Prefix,
  LocalSigner,
  NebulaCertificate,
  parseCertificateBundle,
  PkiError,
  signCertificate,
} from '../../src/pki';
import { prng, randomBytes } from './support';

/** Canonical encoding, strict decoding, random round trips, fuzzing, and tweetnacl cross-checks. */

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const ascii = (s: string) => Buffer.from(s, 'utf8').toString('hex');

function varint(n: number | bigint): string {
  let v = BigInt.asUintN(64, BigInt(n));
  let out = '';
  while (v > 127n) {
    out += Number((v & 127n) | 128n).toString(16).padStart(2, '0');
    v >>= 7n;
  }
  return out + Number(v).toString(16).padStart(2, '0');
}
const rec = (tag: number, payloadHex: string) => `${varint(tag)}${varint(payloadHex.length / 2)}${payloadHex}`;
const KEY = 'ab'.repeat(32);
const SIG = 'cd'.repeat(64);
/** A minimal valid host certificate, in hex, around custom details. */
const cert = (detailsHex: string, sigHex = SIG) => rec(0x0a, detailsHex) + rec(0x12, sigHex);
const withKey = (before: string, after = '') => `${before}${rec(0x3a, KEY)}${after}`;

function decode(hexBytes: string): NebulaCertificate {
  return NebulaCertificate.unmarshal(Buffer.from(hexBytes, 'hex'));
}

describe('canonical encoding', () => {
  it('writes exactly what Go protobuf writes (the reference sample)', () => {
    const details: CertificateDetails = {
      name: 'host1',
      ips: [{ address: '10.42.1.5', prefixLength: 16 }],
      subnets: [{ address: '192.168.10.0', prefixLength: 24 }],
      groups: ['servers', 'ops'],
      notBefore: new Date(1_700_000_000_000),
      notAfter: new Date(1_700_003_600_000),
      publicKey: Buffer.from(KEY, 'hex'),
      isCA: false,
      issuer: 'ef'.repeat(32),
    };
    const c = new NebulaCertificate(details, Buffer.from(SIG, 'hex'));
    const expected =
      `0a05${ascii('host1')}` +
      '12098582a85180 80fcff0f'.replace(' ', '') +
      `1a0a${varint(0xc0a80a00)}${varint(0xffffff00)}` +
      `2207${ascii('servers')}2203${ascii('ops')}` +
      `28${varint(1_700_000_000)}30${varint(1_700_003_600)}` +
      `3a20${KEY}4a20${'ef'.repeat(32)}`;
    expect(hex(c.marshalDetails())).toBe(expected);
    expect(hex(c.marshal())).toBe(cert(expected));
    expect(c.fingerprint()).toBe(createHash('sha256').update(c.marshal()).digest('hex'));
  });

  it('leaves defaults out, ends a CA with isCA, and writes negative times as ten-byte varints', () => {
    const ca = new NebulaCertificate(
      { name: '', ips: [], subnets: [], groups: [], notBefore: new Date(0), notAfter: new Date(-1000), publicKey: Buffer.from(KEY, 'hex'), isCA: true, issuer: '' },
      Buffer.from(SIG, 'hex'),
    );
    expect(hex(ca.marshalDetails())).toBe(`30ffffffffffffffffff01${rec(0x3a, KEY)}4001`);
    expect(decode(hex(ca.marshal())).details).toEqual(ca.details);
  });

  it('keeps empty group names and a BOM in names as they are', () => {
    const details = decode(cert(withKey(`0a03${'efbbbf'}${rec(0x22, '')}${rec(0x22, ascii('g'))}`))).details;
    expect(details.name).toBe('\uFEFF');
    expect(details.groups).toEqual(['', 'g']);
  });
});

describe('strict decoding', () => {
  const cases: [string, string, string][] = [
    ['no bytes', '', 'no bytes'],
    ['an unknown outer field', cert(withKey('')) + rec(0x1a, ''), 'unknown field 3 in certificate'],
    ['an unknown details field', cert(withKey('', rec(0x52, '00'))), 'unknown field 10 in details'],
    ['field number 0', cert(withKey('0200')), 'unknown field 0 in details'],
    ['details as a varint', '0801', 'details has wire type 0, expected 2'],
    ['unpacked ips', cert(withKey(`10${varint(0x0a000001)}`)), 'ips has wire type 0, expected 2'],
    ['notBefore as bytes', cert(withKey(rec(0x2a, '01'))), 'notBefore has wire type 2, expected 0'],
    ['a group as a varint', cert(withKey('2001')), 'groups has wire type 0, expected 2'],
    ['an overlong varint', cert(withKey('288100')), 'notBefore: overlong varint'],
    ['an overlong tag', cert(withKey(`8a00${'05'}${ascii('hello')}`)), 'details field tag: overlong varint'],
    ['an overlong length', `0a8000${SIG}`, 'details length: overlong varint'],
    ['a truncated varint', `${rec(0x0a, '3081')}${rec(0x12, SIG)}`, 'notAfter: truncated varint'],
    ['a varint beyond 64 bits', cert(withKey(`28${'ff'.repeat(9)}02`)), 'notBefore: varint overflows 64 bits'],
    ['a length past the end', `0a7f${KEY}`, 'details: length 127 runs past the end (32 bytes left)'],
    ['a truncated signature', cert(withKey('')).slice(0, -2), 'signature: length 64 runs past the end (63 bytes left)'],
    ['IPs not in pairs', cert(withKey(rec(0x12, `01${varint(0xffffff00)}02`))), 'encoded IPs should be in pairs, an odd number was found'],
    ['subnets not in pairs', cert(withKey(rec(0x1a, '01'))), 'encoded Subnets should be in pairs, an odd number was found'],
    ['a non-contiguous mask', cert(withKey(rec(0x12, `01${varint(0xff00ff00)}`))), 'IPs mask 255.0.255.0 is not a contiguous prefix'],
    ['an IP beyond 32 bits', cert(withKey(rec(0x12, `${varint(2 ** 32)}00`))), 'IPs: value does not fit 32 bits'],
    ['a 31-byte public key', cert(rec(0x3a, KEY.slice(2))), 'public key must be 32 bytes, got 31'],
    ['a 33-byte public key', cert(rec(0x3a, `${KEY}00`)), 'public key must be 32 bytes, got 33'],
    ['no public key', cert(`0a01${ascii('x')}`), 'no public key'],
    ['a 63-byte signature', cert(withKey(''), SIG.slice(2)), 'signature must be 64 bytes, got 63'],
    ['no signature', rec(0x0a, withKey('')), 'no signature'],
    ['no details', rec(0x12, SIG), 'encoded Details was nil'],
    ['a 31-byte issuer', cert(withKey('', rec(0x4a, KEY.slice(2)))), 'issuer must be 32 bytes, got 31'],
    ['fields out of order', cert(withKey(`30${varint(5)}28${varint(4)}`)), 'not canonically encoded: notBefore out of order or repeated'],
    ['a repeated name', cert(withKey(`${rec(0x0a, '61')}${rec(0x0a, '62')}`)), 'not canonically encoded: name out of order or repeated'],
    ['signature before details', rec(0x12, SIG) + rec(0x0a, withKey('')), 'not canonically encoded: details out of order or repeated'],
    ['isCA written as false', cert(withKey('', '4000')), 'not canonically encoded: isCA written as 0'],
    ['isCA written as 2', cert(withKey('', '4002')), 'not canonically encoded: isCA written as 2'],
    ['an empty name written', cert(withKey('0a00')), 'not canonically encoded: empty name written'],
    ['a zero time written', cert(withKey('3000')), 'not canonically encoded: zero notAfter written'],
    ['empty IPs written', cert(withKey('1200')), 'not canonically encoded: empty IPs written'],
    ['a name that is not UTF-8', cert(withKey(rec(0x0a, 'c328'))), 'name is not valid UTF-8'],
    ['a group that is not UTF-8', cert(withKey(rec(0x22, 'eda080'))), 'group is not valid UTF-8'],
    ['a time beyond a Date', cert(withKey(`30${varint(2 ** 50)}`)), `notAfter ${2 ** 50} is outside the dates this decoder represents`],
    ['a time beyond 2^53', cert(withKey(`30${varint(2n ** 62n)}`)), 'notAfter: value out of range'],
  ];
  it.each(cases)('refuses %s', (_label, input, message) => {
    expect(() => decode(input)).toThrow(expect.objectContaining({ name: 'PkiError', code: 'invalid-certificate', message: `invalid certificate: ${message}` }));
  });

  it('refuses non-bytes and PEM with the wrong banner, several blocks, or broken base64', () => {
    expect(() => NebulaCertificate.unmarshal('x' as unknown as Uint8Array)).toThrow('invalid certificate: input must be bytes');
    const good = Buffer.from(cert(withKey('')), 'hex');
    expect(NebulaCertificate.fromPem(encodePem('NEBULA CERTIFICATE', good)).marshal()).toEqual(good);
    expect(() => NebulaCertificate.fromPem(encodePem('NEBULA X25519 PUBLIC KEY', good))).toThrow('bytes did not contain a proper nebula certificate banner (found NEBULA X25519 PUBLIC KEY)');
    expect(() => NebulaCertificate.fromPem(encodePem('NEBULA CERTIFICATE', good).repeat(2))).toThrow('expected one certificate, found 2');
    expect(() => NebulaCertificate.fromPem('-----BEGIN NEBULA CERTIFICATE-----\n!!!!\n-----END NEBULA CERTIFICATE-----\n')).toThrow('PEM block NEBULA CERTIFICATE is not valid base64');
    expect(() => parseCertificateBundle('')).toThrow('input did not contain a valid PEM encoded block');
  });
});

/** A random certificate nebula could carry, from a seeded PRNG. */
function randomDetails(random: () => number): CertificateDetails {
  const pick = <T>(items: readonly T[]) => items[Math.floor(random() * items.length)];
  const int = (n: number) => Math.floor(random() * n);
  const prefix = (): Ipv4Prefix => ({ address: [int(256), int(256), int(256), int(256)].join('.'), prefixLength: int(33) });
  const text = () => Array.from({ length: int(12) }, () => pick(['a', 'Z', '-', '.', ' ', 'é', '中', '🙂', '<', '&', '"'])).join('');
  const time = () => pick([0, -1, 1, 1_700_000_000, 4_102_444_800, -62_135_596_800, int(2 ** 31)]) * 1000;
  return {
    name: text(),
    ips: Array.from({ length: int(4) }, prefix),
    subnets: Array.from({ length: int(4) }, prefix),
    groups: Array.from({ length: int(5) }, text),
    notBefore: new Date(time()),
    notAfter: new Date(time()),
    publicKey: randomBytes(random, 32),
    isCA: random() < 0.5,
    issuer: random() < 0.5 ? '' : hex(randomBytes(random, 32)),
  };
}

describe('random round trips (seeded)', () => {
  it('decodes 1000 random valid certificates to the same details, bytes and fingerprint', () => {
    const seed = 20261126;
    const random = prng(seed);
    for (let i = 0; i < 1000; i++) {
      const original = new NebulaCertificate(randomDetails(random), randomBytes(random, 64));
      const bytes = original.marshal();
      const decoded = NebulaCertificate.unmarshal(bytes);
      try {
        expect(decoded.details).toEqual(original.details);
        expect(decoded.marshal()).toEqual(bytes);
        expect(NebulaCertificate.fromPem(original.toPem()).fingerprint()).toBe(createHash('sha256').update(bytes).digest('hex'));
      } catch (err) {
        throw new Error(`seed ${seed}, case ${i}: ${(err as Error).message}`);
      }
    }
  });
});

describe('fuzzing the decoder (seeded)', () => {
  function expectOnlyPkiError(input: Uint8Array, label: string): void {
    let decoded: NebulaCertificate;
    try {
      decoded = NebulaCertificate.unmarshal(input);
    } catch (err) {
      if (!(err instanceof PkiError) || err.code !== 'invalid-certificate' || !err.message.startsWith('invalid certificate: ')) {
        throw new Error(`${label}: threw ${String(err)} for ${hex(input)}`);
      }
      return;
    }
    // Whatever is accepted is canonical: it re-encodes to the very same bytes.
    if (!decoded.marshal().equals(Buffer.from(input))) throw new Error(`${label}: accepted non-canonical ${hex(input)}`);
  }

  it('turns 5000 random byte strings into PkiError only', () => {
    const random = prng(7);
    for (let i = 0; i < 5000; i++) {
      const length = Math.floor(random() * 200);
      const bytes = randomBytes(random, length);
      // Start many with a plausible outer tag so the fuzz reaches the details parser.
      if (length > 2 && random() < 0.5) bytes[0] = 0x0a;
      expectOnlyPkiError(bytes, `seed 7 case ${i}`);
    }
  });

  it('turns 3000 mutations of valid certificates into PkiError or the same canonical bytes', () => {
    const random = prng(11);
    const int = (n: number) => Math.floor(random() * n);
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const bytes = [...new NebulaCertificate(randomDetails(random), randomBytes(random, 64)).marshal()];
      const kind = int(5);
      const at = int(bytes.length);
      if (kind === 0) bytes[at] ^= 1 << int(8);
      else if (kind === 1) bytes[at] = int(256);
      else if (kind === 2) bytes.splice(at, 1);
      else if (kind === 3) bytes.splice(at, 0, int(256));
      else bytes.length = at;
      const mutated = Uint8Array.from(bytes);
      expectOnlyPkiError(mutated, `seed 11 case ${i} kind ${kind}`);
      try {
        NebulaCertificate.unmarshal(mutated);
        accepted++;
      } catch {
        // counted above
      }
    }
    // Flipping bits inside names, keys and signatures leaves valid certificates: the fuzz is not only rejections.
    expect(accepted).toBeGreaterThan(100);
  });

  it('turns random PEM-ish text into PkiError only', () => {
    const random = prng(13);
    const pem = encodePem('NEBULA CERTIFICATE', new NebulaCertificate(randomDetails(random), randomBytes(random, 64)).marshal());
    for (let i = 0; i < 2000; i++) {
      const chars = [...pem];
      for (let k = 0; k < 1 + Math.floor(random() * 3); k++) chars[Math.floor(random() * chars.length)] = String.fromCharCode(Math.floor(random() * 128));
      try {
        parseCertificateBundle(chars.join(''));
      } catch (err) {
        if (!(err instanceof PkiError)) throw new Error(`seed 13 case ${i}: threw ${String(err)}`);
      }
    }
  });
});

describe('signatures verify under tweetnacl (an independent Ed25519)', () => {
  it('for CAs and host certificates we sign, and for raw LocalSigner signatures', async () => {
    const keyPair = generateEd25519KeyPair();
    // nebula's 64-byte key layout is tweetnacl's secret key layout.
    expect(hex(nacl.sign.keyPair.fromSeed(keyPair.privateKey.subarray(0, 32)).secretKey)).toBe(hex(keyPair.privateKey));
    const signer = new LocalSigner(keyPair.privateKey);
    const ca = await createCA({ signer, name: 'nacl CA', duration: '1h', groups: ['g'] });
    expect(nacl.sign.detached.verify(ca.marshalDetails(), ca.signature, keyPair.publicKey)).toBe(true);
    const random = prng(17);
    // tweetnacl verifies slowly (milliseconds each): a handful of each kind is enough.
    for (let i = 0; i < 5; i++) {
      const cert = await signCertificate({ ca, signer, name: `h${i}`, ips: [`10.0.${i}.1/16`], groups: ['g'], publicKey: generateX25519KeyPair().publicKey, duration: 60_000 });
      expect(nacl.sign.detached.verify(cert.marshalDetails(), cert.signature, keyPair.publicKey)).toBe(true);
      const message = randomBytes(random, Math.floor(random() * 300));
      expect(nacl.sign.detached.verify(message, await signer.sign(message), keyPair.publicKey)).toBe(true);
    }
    const tampered = Buffer.from(ca.marshalDetails());
    tampered[3] ^= 1;
    expect(nacl.sign.detached.verify(tampered, ca.signature, keyPair.publicKey)).toBe(false);
  });
});
