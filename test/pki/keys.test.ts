import { generateKeyPairSync } from 'node:crypto';
import nacl from 'tweetnacl';
import {
  decodePem,
  decodePemBlocks,
  encodeEd25519PrivateKeyPem,
  encodeEd25519PublicKeyPem,
  encodePem,
  encodeX25519PrivateKeyPem,
  encodeX25519PublicKeyPem,
  formatIpv4Prefix,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  ipv4Network,
  ipv4PrefixWithinAny,
  LocalSigner,
  parseEd25519PrivateKeyPem,
  parseEd25519PublicKeyPem,
  parseGoDuration,
  parseIpv4Prefix,
  parseX25519PrivateKeyPem,
  parseX25519PublicKeyPem,
  x25519PublicKeyFromPrivate,
} from '../../src/pki';
import { isSmallOrderX25519 } from '../../src/pki/keys';

describe('PEM', () => {
  it("writes Go's layout: 64-character base64 lines, newline after END", () => {
    const pem = encodePem('NEBULA CERTIFICATE', Buffer.alloc(60, 0xff));
    expect(pem).toBe(`-----BEGIN NEBULA CERTIFICATE-----\n${'/'.repeat(64)}\n${'/'.repeat(16)}\n-----END NEBULA CERTIFICATE-----\n`);
    expect(decodePem(pem, 'NEBULA CERTIFICATE')).toEqual(Buffer.alloc(60, 0xff));
    expect(decodePem(`\n  ${pem.replace(/\n/g, '\r\n')}\n\n`, 'NEBULA CERTIFICATE')).toEqual(Buffer.alloc(60, 0xff));
    expect(decodePemBlocks(pem + encodePem('X', Buffer.from('hi'))).map((b) => b.banner)).toEqual(['NEBULA CERTIFICATE', 'X']);
  });

  it.each([
    ['nothing', '', 'input did not contain a valid PEM encoded block'],
    ['no PEM', 'hello', 'input did not contain a valid PEM encoded block'],
    ['text around', `# comment\n${encodePem('A', Buffer.from('x'))}`, 'unexpected text outside PEM blocks: "# comment"'],
    ['mismatched END', '-----BEGIN A-----\neA==\n-----END B-----\n', 'PEM block BEGIN A ends with END B'],
    ['headers', '-----BEGIN A-----\nProc-Type: 4\n\neA==\n-----END A-----\n', 'PEM block A has headers; nebula PEM has none'],
    ['bad base64', '-----BEGIN A-----\neA=\n-----END A-----\n', 'PEM block A is not valid base64'],
    ['two blocks', encodePem('A', Buffer.from('x')).repeat(2), 'expected one PEM block, found 2'],
    ['another banner', encodePem('B', Buffer.from('x')), 'expected a A PEM block, found B'],
  ])('refuses %s', (_label, text, message) => {
    expect(() => decodePem(text, 'A')).toThrow(expect.objectContaining({ name: 'PkiError', code: 'invalid-pem', message }));
  });

  it('refuses non-text', () => {
    expect(() => decodePem(Buffer.from('x') as unknown as string, 'A')).toThrow('PEM input must be text');
  });
});

describe('keys', () => {
  it('makes X25519 pairs that node:crypto and tweetnacl agree on, and round-trips their PEM', () => {
    const a = generateX25519KeyPair();
    const b = generateX25519KeyPair();
    expect(a.privateKey).toHaveLength(32);
    expect(Buffer.from(nacl.scalarMult.base(a.privateKey))).toEqual(Buffer.from(a.publicKey));
    expect(Buffer.from(x25519PublicKeyFromPrivate(a.privateKey))).toEqual(Buffer.from(a.publicKey));
    expect(Buffer.from(nacl.scalarMult(a.privateKey, b.publicKey))).toEqual(Buffer.from(nacl.scalarMult(b.privateKey, a.publicKey)));
    expect(parseX25519PublicKeyPem(encodeX25519PublicKeyPem(a.publicKey))).toEqual(a.publicKey);
    expect(parseX25519PrivateKeyPem(encodeX25519PrivateKeyPem(a.privateKey))).toEqual(a.privateKey);
  });

  it('derives the public key of an unclamped scalar as nebula-cert writes them', () => {
    const unclamped = new Uint8Array(32).fill(0xff);
    expect(Buffer.from(x25519PublicKeyFromPrivate(unclamped))).toEqual(Buffer.from(nacl.scalarMult.base(unclamped)));
  });

  it('makes Ed25519 keys in nebula layout (seed || public) and round-trips their PEM', () => {
    const k = generateEd25519KeyPair();
    expect(k.privateKey).toHaveLength(64);
    expect(Buffer.from(k.privateKey.subarray(32))).toEqual(Buffer.from(k.publicKey));
    expect(Buffer.from(nacl.sign.keyPair.fromSeed(k.privateKey.subarray(0, 32)).publicKey)).toEqual(Buffer.from(k.publicKey));
    expect(parseEd25519PrivateKeyPem(encodeEd25519PrivateKeyPem(k.privateKey))).toEqual(k.privateKey);
    expect(parseEd25519PublicKeyPem(encodeEd25519PublicKeyPem(k.publicKey))).toEqual(k.publicKey);
  });

  it.each([
    ['a private key as public key', () => parseX25519PublicKeyPem(encodeX25519PrivateKeyPem(new Uint8Array(32))), 'expected a NEBULA X25519 PUBLIC KEY PEM block, found NEBULA X25519 PRIVATE KEY'],
    ['an Ed25519 key as X25519', () => parseX25519PublicKeyPem(encodeEd25519PublicKeyPem(new Uint8Array(32))), 'expected a NEBULA X25519 PUBLIC KEY PEM block, found NEBULA ED25519 PUBLIC KEY'],
    ['a 31-byte X25519 public key', () => parseX25519PublicKeyPem(encodePem('NEBULA X25519 PUBLIC KEY', new Uint8Array(31))), 'key was not 32 bytes, is invalid X25519 public key'],
    ['a 33-byte X25519 private key', () => parseX25519PrivateKeyPem(encodePem('NEBULA X25519 PRIVATE KEY', new Uint8Array(33))), 'key was not 32 bytes, is invalid X25519 private key'],
    ['a 32-byte Ed25519 private key', () => parseEd25519PrivateKeyPem(encodePem('NEBULA ED25519 PRIVATE KEY', new Uint8Array(32))), 'key was not 64 bytes, is invalid ed25519 private key'],
    ['a 64-byte Ed25519 public key', () => parseEd25519PublicKeyPem(encodePem('NEBULA ED25519 PUBLIC KEY', new Uint8Array(64))), 'key was not 32 bytes, is invalid ed25519 public key'],
    ['garbage', () => parseX25519PublicKeyPem('not a key'), 'input did not contain a valid PEM encoded block'],
    ['a short key to encode', () => encodeX25519PublicKeyPem(new Uint8Array(3)), 'key was not 32 bytes, is invalid X25519 public key'],
  ])('refuses %s', (_label, call, message) => {
    expect(call).toThrow(expect.objectContaining({ name: 'PkiError', message }));
  });
});

describe('LocalSigner', () => {
  it('signs with the key node:crypto made, and reports its public key', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const seed = privateKey.export({ format: 'jwk' }).d as string;
    const pub = publicKey.export({ format: 'jwk' }).x as string;
    const raw = Buffer.concat([Buffer.from(seed, 'base64url'), Buffer.from(pub, 'base64url')]);
    const signer = LocalSigner.fromPem(encodeEd25519PrivateKeyPem(raw));
    expect(Buffer.from(await signer.publicKey())).toEqual(Buffer.from(pub, 'base64url'));
    const message = Buffer.from('bytes in, signature out');
    const signature = await signer.sign(message);
    expect(signature).toHaveLength(64);
    expect(nacl.sign.detached.verify(message, signature, Buffer.from(pub, 'base64url'))).toBe(true);
    expect(Buffer.from(signer.signSync(message))).toEqual(Buffer.from(signature));
  });

  it('refuses keys of the wrong length or whose halves do not match', () => {
    expect(() => new LocalSigner(new Uint8Array(32))).toThrow('key was not 64 bytes, is invalid ed25519 private key');
    const k = generateEd25519KeyPair().privateKey;
    k[40] ^= 1;
    expect(() => new LocalSigner(k)).toThrow("ed25519 private key's public half does not match its seed");
  });
});

describe('IPv4 prefixes', () => {
  it('parses and prints like Go, keeping host bits; masks networks; matches like nebula', () => {
    expect(parseIpv4Prefix('10.42.0.5/16')).toEqual({ address: '10.42.0.5', prefixLength: 16 });
    expect(formatIpv4Prefix(parseIpv4Prefix('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(ipv4Network(parseIpv4Prefix('192.168.10.7/24'))).toEqual({ address: '192.168.10.0', prefixLength: 24 });
    expect(ipv4Network(parseIpv4Prefix('255.255.255.255/32'))).toEqual({ address: '255.255.255.255', prefixLength: 32 });
    const ca = [parseIpv4Prefix('10.42.0.1/16')];
    expect(ipv4PrefixWithinAny(parseIpv4Prefix('10.42.200.1/24'), ca)).toBe(true);
    expect(ipv4PrefixWithinAny(parseIpv4Prefix('10.42.200.1/16'), ca)).toBe(true);
    expect(ipv4PrefixWithinAny(parseIpv4Prefix('10.42.200.1/15'), ca)).toBe(false);
    expect(ipv4PrefixWithinAny(parseIpv4Prefix('10.43.0.1/24'), ca)).toBe(false);
    expect(ipv4PrefixWithinAny(parseIpv4Prefix('1.2.3.4/32'), [parseIpv4Prefix('0.0.0.0/0')])).toBe(true);
  });

  it.each(['10.0.0.1', '10.0.0.256/8', '10.0.0.01/8', '10.0.0.1/33', '10.0.0.1/08', '::1/128', ' 10.0.0.1/8'])('refuses %j', (text) => {
    expect(() => parseIpv4Prefix(text)).toThrow(`invalid IPv4 CIDR ${JSON.stringify(text)}: expected a.b.c.d/n`);
  });
});

describe('Go durations', () => {
  it.each([
    ['8760h', 8760 * 3_600_000],
    ['30m', 1_800_000],
    ['1h30m', 5_400_000],
    ['1.5h', 5_400_000],
    ['90s', 90_000],
    ['-2m', -120_000],
    ['0', 0],
    ['1h0m0.5s', 3_600_500],
    ['500ms', 500],
  ])('%s', (text, ms) => {
    expect(parseGoDuration(text)).toBe(ms);
  });

  it.each(['', '1', 'h', '1d', '1 h', '.h', '1h-30m', '99999999999h'])('refuses %j', (text) => {
    expect(() => parseGoDuration(text)).toThrow(expect.objectContaining({ name: 'PkiError', code: 'invalid-input' }));
  });
});

/**
 * Small-order X25519 points, as published: libsodium's blacklist (crypto_scalarmult/curve25519/
 * ref10/x25519_ref10.c, `has_small_order`), which lists the u-coordinates of RFC 7748 section 7's
 * concern — 0, 1, the two points of order 8, p-1, and the non-canonical p and p+1 — little-endian.
 * libsodium ignores the top bit (as X25519 does), so each also appears with bit 255 set.
 */
const SMALL_ORDER_LITERATURE = [
  '0000000000000000000000000000000000000000000000000000000000000000',
  '0100000000000000000000000000000000000000000000000000000000000000',
  'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
  '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
];
const withTopBit = (hex: string) => hex.slice(0, 62) + (parseInt(hex.slice(62), 16) | 0x80).toString(16).padStart(2, '0');
const SMALL_ORDER_ENCODINGS = [...SMALL_ORDER_LITERATURE, ...SMALL_ORDER_LITERATURE.map(withTopBit)];

describe('small-order X25519 public keys', () => {
  const pem = (hex: string) => encodePem('NEBULA X25519 PUBLIC KEY', Buffer.from(hex, 'hex'));

  it('the list has 14 distinct encodings, and each really is small-order: tweetnacl gives the all-zero secret for any private key', () => {
    expect(new Set(SMALL_ORDER_ENCODINGS).size).toBe(14);
    for (const hex of SMALL_ORDER_ENCODINGS) {
      for (let i = 0; i < 3; i++) {
        const shared = nacl.scalarMult(nacl.randomBytes(32), new Uint8Array(Buffer.from(hex, 'hex')));
        expect({ hex, shared: Buffer.from(shared).toString('hex') }).toEqual({ hex, shared: '0'.repeat(64) });
      }
    }
  });

  it.each(SMALL_ORDER_ENCODINGS)('refuses %s', (hex) => {
    expect(isSmallOrderX25519(Buffer.from(hex, 'hex'))).toBe(true);
    expect(() => parseX25519PublicKeyPem(pem(hex))).toThrow(expect.objectContaining({ name: 'PkiError', code: 'invalid-key', message: expect.stringMatching(/small-order/) }));
  });

  it('accepts real keys and the neighbours of the small-order values (2, p-2, p+2, p+18)', () => {
    const neighbours = [
      '0200000000000000000000000000000000000000000000000000000000000000',
      'ebffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'efffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    for (const hex of neighbours) {
      expect(isSmallOrderX25519(Buffer.from(hex, 'hex'))).toBe(false);
      expect(Buffer.from(parseX25519PublicKeyPem(pem(hex))).toString('hex')).toBe(hex);
    }
    for (let i = 0; i < 200; i++) {
      const key = generateX25519KeyPair().publicKey;
      expect(isSmallOrderX25519(key)).toBe(false);
      expect(parseX25519PublicKeyPem(encodeX25519PublicKeyPem(key))).toEqual(key);
    }
  });
});
