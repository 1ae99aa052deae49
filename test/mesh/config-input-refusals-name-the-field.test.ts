/**
 * renderNebulaConfig's input checks (src/mesh/config.ts), in-process with certificates signed by
 * src/pki (nebula itself checks the rendered configs in config.test.ts). The rule: input from an
 * untyped source (JSON, the store) that is not what the type says is refused with a MeshError
 * naming the field; what may be omitted renders its default; boundaries are inclusive.
 */
import { parse } from 'yaml';
import { DEFAULT_NETWORK_POLICY, MeshError, type NebulaConfigInput, renderNebulaConfig } from '../../src/mesh';
import { createCA, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner, NebulaCertificate, signCertificate } from '../../src/pki';
import { forge } from '../pki/support';

const HOUR = 3600_000;

describe('config input refusals name the field', () => {
  let base: NebulaConfigInput;
  let lighthouseBase: NebulaConfigInput;
  let egressBase: NebulaConfigInput;
  let noIpCertificate: string;

  beforeAll(async () => {
    const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'config-refusals', duration: '24h' });
    const host = await signCertificate({ ca, signer, name: 'env', ips: ['10.42.1.7/16'], groups: ['environment'], publicKey: generateX25519KeyPair().publicKey, duration: HOUR });
    const lighthouse = await signCertificate({ ca, signer, name: 'lh', ips: ['10.42.0.1/16'], groups: ['lighthouse'], publicKey: generateX25519KeyPair().publicKey, duration: HOUR });
    const egress = await signCertificate({ ca, signer, name: 'egress', ips: ['10.42.0.9/16'], groups: ['egress'], publicKey: generateX25519KeyPair().publicKey, duration: HOUR });
    noIpCertificate = forge({ ...host.details, ips: [] }, signer).toPem();
    base = { role: 'environment', ca: ca.toPem(), certificate: host.toPem(), lighthouses: [{ ip: '10.42.0.1', endpoints: ['198.18.0.1:4242'] }], blocklist: [], policy: DEFAULT_NETWORK_POLICY };
    lighthouseBase = { role: 'lighthouse', ca: ca.toPem(), certificate: lighthouse.toPem(), lighthouses: [], blocklist: [], policy: DEFAULT_NETWORK_POLICY };
    egressBase = { ...base, role: 'egress', certificate: egress.toPem(), lighthouses: [] };
    expect(NebulaCertificate.fromPem(noIpCertificate).details.ips).toEqual([]);
  });

  /** The MeshError `fn` throws, as {field, message}. */
  function refusal(fn: () => unknown): { field: string; message: string } {
    try {
      fn();
    } catch (err) {
      expect(err).toBeInstanceOf(MeshError);
      return { field: (err as MeshError).field, message: (err as MeshError).message };
    }
    throw new Error('accepted');
  }
  const render = (over: Record<string, unknown>) => renderNebulaConfig({ ...base, ...over } as NebulaConfigInput);

  it('refuses input that is not an object', () => {
    for (const input of [null, 'environment', 5]) {
      expect(refusal(() => renderNebulaConfig(input as unknown as NebulaConfigInput))).toEqual({ field: 'input', message: 'input: must be an object' });
    }
  });

  it('refuses CA and certificate text that is not a PEM certificate, saying which', () => {
    expect(refusal(() => render({ ca: 5 }))).toEqual({ field: 'ca', message: 'ca: must be a PEM string' });
    expect(refusal(() => render({ ca: '   ' }))).toEqual({ field: 'ca', message: 'ca: must be a PEM string' });
    expect(refusal(() => render({ ca: 'no certificate here' }))).toEqual({ field: 'ca', message: 'ca: input did not contain a valid PEM encoded block' });
    expect(refusal(() => render({ certificate: noIpCertificate }))).toEqual({ field: 'certificate', message: 'certificate: has no IP address' });
  });

  it('key path: absolute, without control characters', () => {
    for (const keyPath of ['host.key', 5, '/etc/nebula/ho\nst.key']) expect(refusal(() => render({ keyPath }))).toEqual({ field: 'keyPath', message: 'keyPath: must be an absolute file path' });
  });

  it('blocklist: omitted is empty; otherwise exactly 64 lowercase hex digits each', () => {
    expect(parse(render({ blocklist: undefined })).pki.blocklist).toEqual([]);
    expect(refusal(() => render({ blocklist: 'a'.repeat(64) }))).toEqual({ field: 'blocklist', message: 'blocklist: must be a list of certificate fingerprints' });
    for (const bad of [5, 'A'.repeat(64), `${'a'.repeat(64)}0`, `0${'a'.repeat(64)}`, 'a'.repeat(63)]) {
      expect(refusal(() => render({ blocklist: ['b'.repeat(64), bad] }))).toEqual({ field: 'blocklist[1]', message: 'blocklist[1]: must be a certificate fingerprint: 64 lowercase hex digits' });
    }
  });

  it('lighthouses: omitted is none; a list of objects whose endpoints, if any, are a list', () => {
    const none = parse(render({ lighthouses: undefined }));
    expect([none.lighthouse.hosts, none.static_host_map, none.relay.relays]).toEqual([[], {}, []]);
    expect(parse(render({ lighthouses: [{ ip: '10.42.0.1' }] })).lighthouse.hosts).toEqual([]);
    expect(refusal(() => render({ lighthouses: '10.42.0.1' }))).toEqual({ field: 'lighthouses', message: 'lighthouses: must be a list of {ip, endpoints}' });
    for (const entry of [null, '10.42.0.1']) expect(refusal(() => render({ lighthouses: [entry] }))).toEqual({ field: 'lighthouses[0]', message: 'lighthouses[0]: must be an object {ip, endpoints}' });
    expect(refusal(() => render({ lighthouses: [{ ip: '10.42.0.1', endpoints: '198.18.0.1:4242' }] }))).toEqual({
      field: 'lighthouses[0].endpoints',
      message: "lighthouses[0].endpoints: must be a list of 'host:port' strings",
    });
  });

  it('endpoints are for lighthouses only (an empty list is none); tun device a string of the allowed form', () => {
    expect(parse(render({ endpoints: [] })).listen.port).toBe(0);
    expect(refusal(() => render({ endpoints: ['198.18.0.9:4242'] }))).toEqual({ field: 'endpoints', message: 'endpoints: only lighthouses have public endpoints' });
    for (const tunDevice of [['nebula1'], 5, '1nebula']) {
      expect(refusal(() => render({ tunDevice }))).toEqual({ field: 'tunDevice', message: 'tunDevice: must be 1..15 characters a-z, A-Z, 0-9, _ or -, starting with a letter' });
    }
  });

  it('integers: whole numbers within inclusive bounds (listen port 0-65535, lighthouse 1-65535, MTU 576-9001)', () => {
    for (const listenPort of [0, 65535]) expect(parse(render({ listenPort })).listen.port).toBe(listenPort);
    for (const listenPort of [-1, 65536, 1.5, '4242']) expect(refusal(() => render({ listenPort }))).toEqual({ field: 'listenPort', message: 'listenPort: must be an integer from 0 to 65535' });
    expect(refusal(() => renderNebulaConfig({ ...lighthouseBase, listenPort: 0 }))).toEqual({ field: 'listenPort', message: 'listenPort: must be an integer from 1 to 65535' });
    for (const mtu of [576, 9001]) expect(parse(render({ mtu })).tun.mtu).toBe(mtu);
    for (const mtu of [575, 9002, 1400.5]) expect(refusal(() => render({ mtu }))).toEqual({ field: 'mtu', message: 'mtu: must be an integer from 576 to 9001' });
  });

  it('unsafeRoutes: rendered sorted by route, each via its node with the tun MTU; omitted or empty renders no key', () => {
    const routes = [
      { route: '192.168.1.0/24', via: '10.42.0.9' },
      { route: '172.16.0.0/12', via: '10.42.0.10' },
      { route: '10.0.0.0/16', via: '10.42.0.9' },
    ];
    expect(parse(render({ mtu: 1400, unsafeRoutes: routes })).tun.unsafe_routes).toEqual([
      { route: '10.0.0.0/16', via: '10.42.0.9', mtu: 1400 },
      { route: '172.16.0.0/12', via: '10.42.0.10', mtu: 1400 },
      { route: '192.168.1.0/24', via: '10.42.0.9', mtu: 1400 },
    ]);
    // Adjacent but not overlapping ranges are two routes.
    expect(parse(render({ unsafeRoutes: [{ route: '10.0.1.0/24', via: '10.42.0.9' }, { route: '10.0.0.0/24', via: '10.42.0.9' }] })).tun.unsafe_routes).toHaveLength(2);
    for (const unsafeRoutes of [undefined, []]) expect(parse(render({ unsafeRoutes })).tun).not.toHaveProperty('unsafe_routes');
    // An egress node delivers routed traffic: an empty list is none, any route is refused.
    expect(parse(renderNebulaConfig({ ...egressBase, unsafeRoutes: [] })).tun).not.toHaveProperty('unsafe_routes');
    expect(refusal(() => renderNebulaConfig({ ...egressBase, unsafeRoutes: [{ route: '10.0.0.0/16', via: '10.42.1.7' }] }))).toEqual({
      field: 'unsafeRoutes',
      message: 'unsafeRoutes: egress nodes deliver routed traffic; they route none into the mesh',
    });
  });

  it('unsafeRoutes: a list of objects, each route outside the overlay and apart from the others, each via another host of the overlay', () => {
    const at = (unsafeRoutes: unknown) => refusal(() => render({ unsafeRoutes }));
    expect(at('10.0.0.0/16')).toEqual({ field: 'unsafeRoutes', message: 'unsafeRoutes: must be a list of {route, via}' });
    for (const entry of ['10.0.0.0/16', null]) {
      expect(at([{ route: '10.0.0.0/16', via: '10.42.0.9' }, entry])).toEqual({ field: 'unsafeRoutes[1]', message: 'unsafeRoutes[1]: must be an object {route, via}' });
    }
    expect(at([{ route: '10.0.0.1/16', via: '10.42.0.9' }]).field).toBe('unsafeRoutes[0].route');
    for (const route of ['10.42.5.0/24', '10.0.0.0/8']) {
      expect(at([{ route, via: '10.42.0.9' }])).toEqual({ field: 'unsafeRoutes[0].route', message: `unsafeRoutes[0].route: ${route} overlaps the overlay network 10.42.0.0/16` });
    }
    expect(at([{ route: '10.0.0.0/16', via: 'egress-1' }]).field).toBe('unsafeRoutes[0].via');
    for (const via of ['10.99.0.9', '10.42.0.0', '10.42.255.255']) {
      expect(at([{ route: '10.0.0.0/16', via }])).toEqual({ field: 'unsafeRoutes[0].via', message: `unsafeRoutes[0].via: ${via} is not a host address of the overlay network 10.42.0.0/16` });
    }
    expect(at([{ route: '10.0.0.0/16', via: '10.42.1.7' }])).toEqual({ field: 'unsafeRoutes[0].via', message: "unsafeRoutes[0].via: 10.42.1.7 is this host's own address" });
    // Overlaps are found after sorting (not only between neighbours in the list) and name the later entry.
    const wide = { route: '10.0.0.0/16', via: '10.42.0.9' };
    const narrow = { route: '10.0.5.0/24', via: '10.42.0.10' };
    const apart = { route: '192.168.0.0/16', via: '10.42.0.9' };
    expect(at([wide, apart, narrow])).toEqual({ field: 'unsafeRoutes[2].route', message: 'unsafeRoutes[2].route: overlaps unsafeRoutes[0].route' });
    expect(at([narrow, apart, wide])).toEqual({ field: 'unsafeRoutes[2].route', message: 'unsafeRoutes[2].route: overlaps unsafeRoutes[0].route' });
  });

  it('firewall rules carry host or group only when the rule has one', () => {
    const config = parse(render({}));
    for (const rule of [...config.firewall.inbound, ...config.firewall.outbound]) {
      expect(Object.keys(rule).filter((k) => rule[k] === null || rule[k] === undefined)).toEqual([]);
      expect(Object.keys(rule).filter((k) => k === 'host' || k === 'group')).toHaveLength(1);
    }
  });
});
