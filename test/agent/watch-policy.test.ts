import { patchBlocklist } from '../../src/agent/config-patch';
import { fallbackDelay, watchTarget } from '../../src/agent/watch-policy';

const fp = (c: string) => c.repeat(64);

describe('watch target', () => {
  it('takes an http(s) watch URL, refuses a downgrade of an https API and other schemes', () => {
    expect(watchTarget('https://api.example.test/api', 'https://watch.example.test:8443').url).toBe('https://watch.example.test:8443/');
    expect(watchTarget('http://127.0.0.1:8080', 'http://127.0.0.1:9090').url).toBe('http://127.0.0.1:9090/');
    expect(watchTarget('https://api.example.test', 'http://watch.example.test')).toEqual({ refused: 'the API is https and the watch URL is not' });
    expect(watchTarget('https://api.example.test', 'file:///etc/passwd').refused).toMatch(/not http/);
    expect(watchTarget('https://api.example.test', 'not a url').refused).toBe('not a URL');
    expect(watchTarget('https://api.example.test', undefined)).toEqual({});
    expect(watchTarget('http://gateway.lan:8080/', 'http://0.0.0.0:8080').url).toBe('http://gateway.lan:8080/');
    expect(watchTarget('http://10.1.2.3:8080', 'http://[::]:9090').url).toBe('http://10.1.2.3:9090/');
  });

  it('spreads fallback polls over ±25% of the interval', () => {
    expect([0, 0.5, 0.999].map((r) => fallbackDelay(300_000, () => r))).toEqual([225_000, 300_000, 374_850]);
  });
});

describe('blocklist patch', () => {
  const config = { pki: { ca: 'CA', cert: 'CERT', key: '/k', blocklist: [fp('b'), fp('d')], disconnect_invalid: true }, lighthouse: { hosts: ['10.0.0.1'] } };

  it('removes, adds and sorts, leaving everything else as it was', () => {
    const { document, yaml } = patchBlocklist(config, { add: [fp('a'), fp('c')], remove: [fp('d')] });
    expect(document).toEqual({ ...config, pki: { ...config.pki, blocklist: [fp('a'), fp('b'), fp('c')] } });
    expect(config.pki.blocklist).toEqual([fp('b'), fp('d')]);
    expect(yaml.indexOf('blocklist')).toBeGreaterThan(yaml.indexOf('key:'));
  });

  it('adds a fingerprint already present only once, and starts a missing blocklist', () => {
    expect(patchBlocklist(config, { add: [fp('b')], remove: [] }).document.pki).toMatchObject({ blocklist: [fp('b'), fp('d')] });
    expect(patchBlocklist({ pki: { ca: 'CA' } }, { add: [fp('e')], remove: [] }).document.pki).toEqual({ ca: 'CA', blocklist: [fp('e')] });
  });

  it('refuses a running config it cannot patch', () => {
    expect(() => patchBlocklist([], { add: [], remove: [] })).toThrow('not a YAML mapping');
    expect(() => patchBlocklist({}, { add: [], remove: [] })).toThrow('no pki section');
    expect(() => patchBlocklist({ pki: { blocklist: 'x' } }, { add: [], remove: [] })).toThrow('not a list of fingerprints');
  });
});
