import { CAPool, createCA, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner, signCertificate } from '../../src/pki';
import { forge, HOUR } from './support';

// The rule: a CA bundle is refused with a PkiError whose code says which check failed (callers,
// such as the API and `gateway cert verify`, tell a leaf certificate from a forged CA by the code;
// the messages are nebula's and checked against nebula-cert in interop.test.ts).
describe('CAPool refuses a bundle, naming the reason in the code', () => {
  const signer = new LocalSigner(generateEd25519KeyPair().privateKey);

  it('not-ca: a host certificate where a CA belongs', async () => {
    const ca = await createCA({ signer, name: 'root', duration: '24h' });
    const leaf = await signCertificate({ ca, signer, name: 'leaf', ips: ['10.42.3.3/16'], publicKey: generateX25519KeyPair().publicKey, duration: HOUR });
    expect(() => CAPool.fromPem(ca.toPem() + leaf.toPem())).toThrow(expect.objectContaining({ name: 'PkiError', code: 'not-ca', message: 'leaf: certificate is not a CA' }));
  });

  it('not-self-signed: a CA whose signature is not its own key\'s', async () => {
    const ca = await createCA({ signer, name: 'root', duration: '24h' });
    const impostor = forge({ ...ca.details, name: 'impostor' }, new LocalSigner(generateEd25519KeyPair().privateKey));
    expect(() => CAPool.fromPem(ca.toPem() + impostor.toPem())).toThrow(
      expect.objectContaining({ name: 'PkiError', code: 'not-self-signed', message: 'impostor: certificate is not self-signed' }),
    );
  });

  it('accepts the CA alone, keyed by its fingerprint', async () => {
    const ca = await createCA({ signer, name: 'root', duration: '24h' });
    expect(CAPool.fromPem(ca.toPem()).fingerprints).toEqual([ca.fingerprint()]);
  });
});
