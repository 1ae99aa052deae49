/**
 * The rule for a TLS pair the proxy may serve (src/proxy/tls-pair.ts checkTlsPair), as a table:
 * a PEM certificate whose key is the PEM private key given, valid at the moment asked (from
 * notBefore inclusive to notAfter exclusive), covering `<port>--<hostId>.<domain>` through
 * `*.<domain>` or an exact name. Each refusal says which rule failed and never quotes the key.
 */
import { X509Certificate } from 'node:crypto';
import { checkTlsPair, type TlsPair, type TlsPairProblem } from '../../src/proxy/tls-pair';
import { describeNeeding } from '../support/prerequisites';
import { makeTlsFixture, tempDir } from './support';

describeNeeding(['openssl'])('checkTlsPair', () => {
  const tmp = tempDir('proxy-tls-pair-');
  const good = makeTlsFixture(tmp.dir, 'pair.test');
  const otherTmp = tempDir('proxy-tls-pair-other-');
  const other = makeTlsFixture(otherTmp.dir, 'pair.test');
  const leaf = new X509Certificate(good.cert);
  const notBefore = new Date(leaf.validFrom);
  const notAfter = new Date(leaf.validTo);
  const inside = new Date(notBefore.getTime() + 60_000);
  afterAll(() => {
    tmp.cleanup();
    otherTmp.cleanup();
  });

  it('accepts a matching pair in date for the domain, saying its fingerprint and end', () => {
    expect(checkTlsPair({ cert: good.cert, key: good.key }, 'pair.test', inside)).toEqual({ fingerprint: leaf.fingerprint256, notAfter });
    expect(checkTlsPair({ cert: good.cert, key: good.key }, 'pair.test', notBefore).fingerprint).toBe(leaf.fingerprint256);
  });

  it('refuses each broken rule, by name', () => {
    const cases: [string, TlsPair, string, Date, TlsPairProblem, RegExp][] = [
      ['not a certificate', { cert: 'junk', key: good.key }, 'pair.test', inside, 'unreadable-certificate', /not a PEM X\.509 certificate/],
      ['not a key', { cert: good.cert, key: `${good.key.slice(0, 60)}junk` }, 'pair.test', inside, 'unreadable-key', /not a PEM private key/],
      ['a key of another certificate', { cert: good.cert, key: other.key }, 'pair.test', inside, 'key-mismatch', /does not belong to certificate/],
      ['a moment before notBefore', good, 'pair.test', new Date(notBefore.getTime() - 1000), 'not-yet-valid', /is not valid before/],
      ['at notAfter', good, 'pair.test', notAfter, 'expired', /expired at/],
      ['after notAfter', good, 'pair.test', new Date(notAfter.getTime() + 86_400_000), 'expired', /expired at/],
      ['another domain', good, 'other.test', inside, 'wrong-domain', /does not cover \*\.other\.test \(it names DNS:\*\.pair\.test, DNS:pair\.test\)/],
      ['a parent of the domain', good, 'test', inside, 'wrong-domain', /does not cover/],
      ['a subdomain below the wildcard', good, 'x.pair.test', inside, 'wrong-domain', /does not cover/],
    ];
    for (const [what, pair, domain, now, problem, message] of cases) {
      let caught: unknown;
      try {
        checkTlsPair(pair, domain, now);
      } catch (err) {
        caught = err;
      }
      expect({ what, problem: (caught as { problem?: string })?.problem, message: (caught as Error)?.message }).toEqual({ what, problem, message: expect.stringMatching(message) });
      expect((caught as Error).message).not.toContain('PRIVATE KEY');
    }
  });
});
