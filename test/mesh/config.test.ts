import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse } from 'yaml';
import { DEFAULT_KEY_PATH, type LighthouseAddress, type NebulaConfigInput, ROLES, type Role, renderNebulaConfig } from '../../src/mesh';
import { describeNeeding } from '../support/prerequisites';
import { type HostFiles, NebulaCertFixture, nebulaTest } from './nebula-tools';
import { meshError } from './mesh-error';

/** Every key nebula 1.6.1 reads (from its `c.Get*` calls); anything else would be silently ignored. */
const NEBULA_16_KEYS = new Set([
  'pki', 'pki.ca', 'pki.cert', 'pki.key', 'pki.blocklist', 'pki.disconnect_invalid',
  'static_host_map',
  'lighthouse', 'lighthouse.am_lighthouse', 'lighthouse.interval', 'lighthouse.hosts',
  'listen', 'listen.host', 'listen.port', 'listen.read_buffer', 'listen.write_buffer',
  'punchy', 'punchy.punch', 'punchy.respond', 'punchy.delay',
  'relay', 'relay.am_relay', 'relay.use_relays', 'relay.relays',
  'tun', 'tun.disabled', 'tun.dev', 'tun.mtu',
  'logging', 'logging.level', 'logging.format',
  'firewall', 'firewall.conntrack', 'firewall.conntrack.tcp_timeout', 'firewall.conntrack.udp_timeout',
  'firewall.conntrack.default_timeout', 'firewall.outbound', 'firewall.inbound',
]);

/** Dotted key paths of a parsed config, not descending into maps keyed by data (static_host_map) or lists. */
function keyPaths(value: unknown, prefix = ''): string[] {
  if (typeof value !== 'object' || value === null || Array.isArray(value) || prefix === 'static_host_map') return [];
  return Object.entries(value).flatMap(([key, child]) => {
    const path = prefix ? `${prefix}.${key}` : key;
    return [path, ...keyPaths(child, path)];
  });
}

const LIGHTHOUSES: LighthouseAddress[] = [
  { ip: '10.42.0.1', endpoints: ['198.18.0.1:4242', 'localhost:4242'] },
  { ip: '10.42.0.2', endpoints: ['198.18.0.2:4242'] },
];
const HOST_IPS: Record<Role, string> = { lighthouse: '10.42.0.1/16', proxy: '10.42.0.3/16', environment: '10.42.1.7/16', egress: '10.42.0.9/16' };
const FINGERPRINT_A = 'a'.repeat(64);
const FINGERPRINT_B = '0123456789abcdef'.repeat(4);

describeNeeding(['nebula', 'nebula-cert'])('renderNebulaConfig (checked by nebula 1.6 itself)', () => {
  let pki: NebulaCertFixture;
  const hosts = {} as Record<Role, HostFiles>;

  function input(role: Role, overrides: Partial<NebulaConfigInput> = {}): NebulaConfigInput {
    return {
      role,
      ca: pki.ca,
      certificate: hosts[role].cert,
      keyPath: hosts[role].keyPath,
      lighthouses: LIGHTHOUSES,
      blocklist: [],
      policy: { environmentsReachEachOther: false },
      ...overrides,
    };
  }

  async function check(name: string, yaml: string) {
    const path = join(pki.dir, `${name}.yml`);
    await writeFile(path, yaml);
    return nebulaTest(path);
  }

  let otherPki: NebulaCertFixture;
  let otherHost: HostFiles;

  beforeAll(async () => {
    pki = await NebulaCertFixture.create();
    for (const role of ROLES) hosts[role] = await pki.sign(`${role}-1`, HOST_IPS[role], [role, 'team-a']);
    otherPki = await NebulaCertFixture.create();
    otherHost = await otherPki.sign('stranger', '10.42.9.9/16', ['environment']);
  });

  afterAll(async () => {
    await pki?.cleanup();
    await otherPki?.cleanup();
  });

  it('passes nebula -test for every role with 0, 1 and 2 lighthouses, with and without a blocklist', async () => {
    const failures: string[] = [];
    for (const role of ROLES) {
      for (const count of [0, 1, 2]) {
        for (const blocklist of [[], [FINGERPRINT_B, FINGERPRINT_A]]) {
          const name = `${role}-${count}-${blocklist.length}`;
          const yaml = renderNebulaConfig(input(role, { lighthouses: LIGHTHOUSES.slice(0, count), blocklist, policy: { environmentsReachEachOther: count === 2 } }));
          const result = await check(name, yaml);
          if (!result.ok) failures.push(`${name}: ${result.output}`);
          for (const fingerprint of blocklist) {
            if (result.ok && !result.output.includes(`"fingerprint":"${fingerprint}","level":"info","msg":"Blocklisting cert"`)) {
              failures.push(`${name}: nebula did not read blocklist entry ${fingerprint}`);
            }
          }
        }
      }
    }
    expect(failures).toEqual([]);
  });

  it('a broken config fails nebula -test (the check above can fail)', async () => {
    const result = await check('no-key', renderNebulaConfig(input('environment', { keyPath: join(pki.dir, 'missing.key') })));
    expect(result.ok).toBe(false);
    expect(result.output).toContain('missing.key');
  });

  it('nebula reads the firewall, relays and lighthouse settings as rendered', async () => {
    const env = await check('env-read', renderNebulaConfig(input('environment', { policy: { environmentsReachEachOther: true } })));
    expect(env.ok).toBe(true);
    const rules = env.output.split('\n').filter((line) => line.includes('Firewall rule added')).map((line) => JSON.parse(line).firewallRule);
    expect(rules.map((r) => [r.direction, r.proto, r.host, r.groups])).toEqual([
      ['outgoing', 0, 'any', null],
      ['incoming', 1, '', ['lighthouse']],
      ['incoming', 1, '', ['proxy']],
      ['incoming', 6, '', ['proxy']],
      ['incoming', 0, '', ['environment']],
    ]);
    expect(env.output).toContain('"RelayIP":"10.42.0.1"');
    expect(env.output).toContain('"RelayIP":"10.42.0.2"');

    const lighthouse = await check('lh-read', renderNebulaConfig(input('lighthouse')));
    expect(lighthouse.ok).toBe(true);
    expect(lighthouse.output).not.toContain('upstream lighthouses exist in config');
    expect(lighthouse.output).not.toContain('Read relay from config');
  });

  it('a lighthouse without endpoints yet is left out of lighthouse.hosts but kept as a relay', async () => {
    const yaml = renderNebulaConfig(input('proxy', { lighthouses: [LIGHTHOUSES[1], { ip: '10.42.0.9', endpoints: [] }] }));
    const config = parse(yaml);
    expect(config.lighthouse.hosts).toEqual(['10.42.0.2']);
    expect(Object.keys(config.static_host_map)).toEqual(['10.42.0.2']);
    expect(config.relay.relays).toEqual(['10.42.0.2', '10.42.0.9']);
    expect((await check('no-endpoints', yaml)).ok).toBe(true);
  });

  it('quotes values YAML 1.1 (nebula) would read as booleans', async () => {
    const yaml = renderNebulaConfig(input('proxy', { tunDevice: 'y' }));
    expect(yaml).toContain('dev: "y"');
    expect(parse(yaml, { version: '1.1' }).tun.dev).toBe('y');
    expect((await check('tun-y', yaml)).ok).toBe(true);
  });

  describe('structure', () => {
    it('a lighthouse: fixed port, am_lighthouse, am_relay, no upstream lighthouses', () => {
      const config = parse(renderNebulaConfig(input('lighthouse')));
      expect(config.lighthouse).toEqual({ am_lighthouse: true });
      expect(config.static_host_map).toEqual({});
      expect(config.listen).toEqual({ host: '0.0.0.0', port: 4242, read_buffer: 10485760, write_buffer: 10485760 });
      expect(config.relay).toEqual({ am_relay: true, use_relays: false });
      expect(parse(renderNebulaConfig(input('lighthouse', { listenPort: 4243 }))).listen.port).toBe(4243);
    });

    it("a lighthouse listens on the port its own endpoints name (hosts dial those), and nebula accepts it", async () => {
      const yaml = renderNebulaConfig(input('lighthouse', { endpoints: ['198.18.0.1:4243', 'lh1.example.com:4243'] }));
      expect(parse(yaml).listen).toEqual({ host: '0.0.0.0', port: 4243, read_buffer: 10485760, write_buffer: 10485760 });
      expect(await check('lighthouse-4243', yaml)).toEqual({ ok: true, output: expect.any(String) });
      expect(parse(renderNebulaConfig(input('lighthouse', { endpoints: ['198.18.0.1:51820'], listenPort: 51820 }))).listen.port).toBe(51820);
      expect(parse(renderNebulaConfig(input('lighthouse', { endpoints: [] }))).listen.port).toBe(4242);
    });

    it.each(['environment', 'proxy'] as const)('role %s: lighthouses, static hosts, relays, any port', (role) => {
      const config = parse(renderNebulaConfig(input(role)));
      expect(config.lighthouse).toEqual({ am_lighthouse: false, interval: 60, hosts: ['10.42.0.1', '10.42.0.2'] });
      expect(config.static_host_map).toEqual({ '10.42.0.1': ['198.18.0.1:4242', 'localhost:4242'], '10.42.0.2': ['198.18.0.2:4242'] });
      expect(config.relay).toEqual({ am_relay: false, use_relays: true, relays: ['10.42.0.1', '10.42.0.2'] });
      expect(config.listen.port).toBe(0);
    });

    it('every role: inline PKI, disconnect_invalid, punchy, tun, logging, conntrack; only keys nebula 1.6 reads', () => {
      for (const role of ROLES) {
        const config = parse(renderNebulaConfig(input(role, { blocklist: [FINGERPRINT_B] })));
        expect(keyPaths(config).filter((path) => !NEBULA_16_KEYS.has(path))).toEqual([]);
        expect(config.pki).toEqual({ ca: pki.ca, cert: hosts[role].cert, key: hosts[role].keyPath, blocklist: [FINGERPRINT_B], disconnect_invalid: true });
        // Punching within the first handshake retry keeps a punchable NAT direct: nebula 1.6 asks a relay at once (test/e2e/nat.netns.test.ts).
        expect(config.punchy).toEqual({ punch: true, respond: true, delay: '10ms' });
        expect(config.tun).toEqual({ disabled: false, dev: 'nebula1', mtu: 1300 });
        // 10 MiB UDP socket buffers: the 208 KiB default drops a bulk transfer's bursts (docs/egress.md; applied: config-socket-buffers.netns.test.ts).
        expect(config.listen).toMatchObject({ read_buffer: 10485760, write_buffer: 10485760 });
        expect(config.logging).toEqual({ level: 'info', format: 'json' });
        expect(config.firewall.conntrack).toEqual({ tcp_timeout: '12m', udp_timeout: '3m', default_timeout: '10m' });
      }
    });

    it('applies options and defaults the key path', () => {
      const config = parse(renderNebulaConfig(input('environment', { keyPath: undefined, tunDevice: 'neb0', mtu: 1400, logFormat: 'text', listenPort: 4300 })));
      expect(config.pki.key).toBe(DEFAULT_KEY_PATH);
      expect(config.tun).toEqual({ disabled: false, dev: 'neb0', mtu: 1400 });
      expect(config.logging.format).toBe('text');
      expect(config.listen.port).toBe(4300);
    });

    it('is byte-identical whatever the order of lighthouses, endpoints and blocklist', () => {
      const a = renderNebulaConfig(input('environment', { blocklist: [FINGERPRINT_A, FINGERPRINT_B, FINGERPRINT_A], lighthouses: LIGHTHOUSES }));
      const b = renderNebulaConfig(
        input('environment', {
          blocklist: [FINGERPRINT_B, FINGERPRINT_A],
          lighthouses: [{ ip: '10.42.0.2', endpoints: ['198.18.0.2:4242'] }, { ip: '10.42.0.1', endpoints: ['localhost:4242', '198.18.0.1:4242', 'LOCALHOST:4242'] }],
        }),
      );
      expect(b).toBe(a);
      expect(parse(a).pki.blocklist).toEqual([FINGERPRINT_B, FINGERPRINT_A]);
      // No YAML anchors or aliases: the text stays plain for people and for diffing.
      expect(a).not.toMatch(/[&*]a\d/);
    });

    it('sorts lighthouses numerically, not as text', () => {
      const config = parse(renderNebulaConfig(input('proxy', { lighthouses: [{ ip: '10.42.0.10', endpoints: ['198.18.0.10:4242'] }, { ip: '10.42.0.9', endpoints: ['198.18.0.9:4242'] }] })));
      expect(config.lighthouse.hosts).toEqual(['10.42.0.9', '10.42.0.10']);
    });

    it('accepts CRLF PEM and a CA bundle of several certificates', () => {
      const bundle = `${pki.ca}${pki.ca}`.replace(/\n/g, '\r\n');
      const config = parse(renderNebulaConfig(input('proxy', { ca: bundle })));
      expect(config.pki.ca).toBe(`${pki.ca}${pki.ca}`);
    });
  });

  describe('bad input names the field', () => {
    it.each<[string, Partial<NebulaConfigInput>, string, RegExp]>([
      ['role', { role: 'admin' as Role }, 'role', /is not a role/],
      ['ca', { ca: 'not a pem' }, 'ca', /did not contain a valid PEM encoded block/],
      ['ca with a key', { ca: '-----BEGIN NEBULA ED25519 PRIVATE KEY-----\nAAAA\n-----END NEBULA ED25519 PRIVATE KEY-----\n' }, 'ca', /banner/],
      ['ca garbage', { ca: '-----BEGIN NEBULA CERTIFICATE-----\nAAAA\n-----END NEBULA CERTIFICATE-----\n' }, 'ca', /invalid certificate/],
      ['certificate', { certificate: '' }, 'certificate', /must be a PEM string/],
      ['lighthouse outside', { lighthouses: [{ ip: '10.99.0.1', endpoints: ['198.18.0.1:4242'] }] }, 'lighthouses[0].ip', /not a host address of the certificate's network 10\.42\.0\.0\/16/],
      ['lighthouse broadcast', { lighthouses: [{ ip: '10.42.255.255', endpoints: ['198.18.0.1:4242'] }] }, 'lighthouses[0].ip', /not a host address/],
      ['keyPath', { keyPath: 'host.key' }, 'keyPath', /absolute file path/],
      ['keyPath newline', { keyPath: '/etc/nebula/host.key\nx: 1' }, 'keyPath', /absolute file path/],
      ['blocklist entry', { blocklist: [FINGERPRINT_A, 'ABC'] }, 'blocklist[1]', /64 lowercase hex digits/],
      ['blocklist type', { blocklist: 'x' as never }, 'blocklist', /must be a list/],
      ['lighthouse ip', { lighthouses: [{ ip: '10.42.0.01', endpoints: [] }] }, 'lighthouses[0].ip', /leading zero/],
      ['lighthouse dup', { lighthouses: [LIGHTHOUSES[0], LIGHTHOUSES[0]] }, 'lighthouses[1].ip', /listed twice/],
      ['endpoint', { lighthouses: [{ ip: '10.42.0.1', endpoints: ['198.18.0.1:4242', 'lh:99999'] }] }, 'lighthouses[0].endpoints[1]', /invalid port/],
      ['endpoints type', { lighthouses: [{ ip: '10.42.0.1', endpoints: 'x' as never }] }, 'lighthouses[0].endpoints', /must be a list/],
      ['listenPort', { listenPort: 70000 }, 'listenPort', /integer from 0 to 65535/],
      ['mtu', { mtu: 100 }, 'mtu', /integer from 576 to 9001/],
      ['tunDevice', { tunDevice: 'nebula-device-too-long' }, 'tunDevice', /1\.\.15 characters/],
      ['logFormat', { logFormat: 'xml' as never }, 'logFormat', /'json' or 'text'/],
      ['policy', { policy: { environmentsReachEachOther: 1 } as never }, 'policy.environmentsReachEachOther', /true or false/],
    ])('%s', (_, overrides, field, message) => {
      const error = meshError(() => renderNebulaConfig(input('environment', overrides)));
      expect(error.field).toBe(field);
      expect(error.message).toMatch(message);
    });

    it.each<[string, Partial<NebulaConfigInput>, string, RegExp]>([
      ['endpoints on two ports', { endpoints: ['198.18.0.1:4242', 'lh1.example.com:4243'] }, 'endpoints', /name different ports \(4242, 4243\)/],
      ['listenPort against the endpoints', { endpoints: ['198.18.0.1:4243'], listenPort: 4242 }, 'listenPort', /is 4242 but the lighthouse's endpoints name port 4243/],
      ['a bad endpoint', { endpoints: ['198.18.0.1:4243', 'lh:0'] }, 'endpoints[1]', /invalid port/],
      ['endpoints type', { endpoints: '198.18.0.1:4243' as never }, 'endpoints', /must be a list/],
    ])("a lighthouse's own endpoints: %s", (_, overrides, field, message) => {
      const error = meshError(() => renderNebulaConfig(input('lighthouse', overrides)));
      expect([error.field, error.message]).toEqual([field, expect.stringMatching(message)]);
    });

    it('only a lighthouse has endpoints of its own', () => {
      const error = meshError(() => renderNebulaConfig(input('environment', { endpoints: ['198.18.0.1:4242'] })));
      expect([error.field, error.message]).toEqual(['endpoints', expect.stringMatching(/only lighthouses/)]);
    });

    it('a lighthouse needs a fixed port', () => {
      expect(meshError(() => renderNebulaConfig(input('lighthouse', { listenPort: 0 }))).message).toMatch(/listenPort: must be an integer from 1/);
    });

    it('the certificate must be one host certificate from a CA in the bundle', () => {
      const cases: Array<[Partial<NebulaConfigInput>, string, RegExp]> = [
        [{ certificate: hosts.proxy.cert + hosts.proxy.cert }, 'certificate', /exactly one certificate, found 2/],
        [{ certificate: pki.ca }, 'certificate', /is a CA certificate/],
        [{ certificate: otherHost.cert }, 'certificate', /issued by a CA that is not in the bundle/],
        [{ ca: pki.ca + hosts.proxy.cert }, 'ca', /not a CA/],
      ];
      for (const [overrides, field, message] of cases) {
        const error = meshError(() => renderNebulaConfig(input('proxy', overrides)));
        expect([error.field, error.message]).toEqual([field, expect.stringMatching(message)]);
      }
      const rotated = parse(renderNebulaConfig(input('environment', { ca: otherPki.ca + pki.ca })));
      expect(rotated.pki.ca).toBe(otherPki.ca + pki.ca);
    });
  });
});
