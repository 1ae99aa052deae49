import { MeshError } from '../../src/mesh/errors';
import { isAllowed, parseProxyHostName, parseRouteTable, proxyHostName, RouteIndex } from '../../src/mesh/routes';

const valid = {
  version: 'v7',
  routes: [
    {
      hostId: 'h-1a2b',
      ip: '10.42.0.5',
      owner: { subject: 'alice', organization: 'acme' },
      ports: [
        { port: 3000, access: 'private', protocol: 'http' },
        { port: 8443, access: 'public', protocol: 'https' },
      ],
    },
  ],
};

function fieldOf(value: unknown): string {
  try {
    parseRouteTable(value);
  } catch (err) {
    expect(err).toBeInstanceOf(MeshError);
    return (err as MeshError).field;
  }
  throw new Error('accepted');
}

describe('route table', () => {
  it('accepts a valid table and indexes it by host and port', () => {
    const index = new RouteIndex(parseRouteTable(valid));
    expect(index.version).toBe('v7');
    expect(index.lookup({ hostId: 'h-1a2b', port: 8443 })?.port).toEqual({ port: 8443, access: 'public', protocol: 'https' });
    expect(index.lookup({ hostId: 'h-1a2b', port: 3001 })).toBeUndefined();
    expect(index.lookup({ hostId: 'h-other', port: 3000 })).toBeUndefined();
  });

  it('names the field at fault', () => {
    const bad = (patch: (t: any) => void) => {
      const t = JSON.parse(JSON.stringify(valid));
      patch(t);
      return fieldOf(t);
    };
    expect(bad((t) => delete t.version)).toBe('version');
    expect(bad((t) => (t.routes[0].ports[1].access = 'everyone'))).toBe('routes[0].ports[1].access');
    expect(bad((t) => (t.routes[0].ports[0].protocol = 'ftp'))).toBe('routes[0].ports[0].protocol');
    expect(bad((t) => (t.routes[0].ports[0].port = 70000))).toBe('routes[0].ports[0].port');
    expect(bad((t) => (t.routes[0].ip = '10.42.0.300'))).toBe('routes[0].ip');
    expect(bad((t) => (t.routes[0].hostId = 'H--x'))).toBe('routes[0].hostId');
    expect(bad((t) => (t.routes[0].owner.organization = ''))).toBe('routes[0].owner.organization');
    expect(bad((t) => t.routes[0].ports.push({ port: 3000, access: 'public', protocol: 'http' }))).toBe('routes[0].ports[2].port');
    expect(bad((t) => t.routes.push(t.routes[0]))).toBe('routes[1].hostId');
    expect(fieldOf(null)).toBe('(root)');
  });
});

describe('proxy host names', () => {
  it('reads <port>--<hostId>.<domain>, case-insensitively and with a Host header port', () => {
    expect(parseProxyHostName('3000--h-1a2b.dev.example.com', 'dev.example.com')).toEqual({ port: 3000, hostId: 'h-1a2b' });
    expect(parseProxyHostName('8080--ABC.Dev.Example.com:443', 'dev.example.com')).toEqual({ port: 8080, hostId: 'abc' });
    expect(proxyHostName(3000, 'h-1a2b', 'Dev.Example.com')).toBe('3000--h-1a2b.dev.example.com');
  });

  it('refuses everything else', () => {
    for (const name of [
      'h-1a2b.dev.example.com',
      '--h.dev.example.com',
      '0--h.dev.example.com',
      '03000--h.dev.example.com',
      '65536--h.dev.example.com',
      '3000--.dev.example.com',
      '3000--h--x.dev.example.com',
      '3000--h-.dev.example.com',
      'x.3000--h.dev.example.com',
      '3000--h.example.com',
      '3000--h.evildev.example.com',
      'dev.example.com',
    ]) {
      expect({ name, parsed: parseProxyHostName(name, 'dev.example.com') }).toEqual({ name, parsed: undefined });
    }
  });
});

describe('access levels', () => {
  const owner = { subject: 'alice', organization: 'acme' };
  it('public: anyone; organization: same organization; private: the owner only', () => {
    const cases: [Parameters<typeof isAllowed>[0], { subject: string; organization: string } | undefined, boolean][] = [
      ['public', undefined, true],
      ['organization', undefined, false],
      ['organization', { subject: 'bob', organization: 'acme' }, true],
      ['organization', { subject: 'alice', organization: 'globex' }, false],
      ['private', undefined, false],
      ['private', owner, true],
      ['private', { subject: 'bob', organization: 'acme' }, false],
      ['private', { subject: 'alice', organization: 'globex' }, false],
    ];
    for (const [access, who, allowed] of cases) expect({ access, who, allowed: isAllowed(access, owner, who) }).toEqual({ access, who, allowed });
  });
});
