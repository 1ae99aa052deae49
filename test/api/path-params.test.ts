/**
 * Hostile path parameters on every route that has one: oversized (10 KB), NUL, dot segments,
 * encoded slashes, malformed percent-encoding, non-ASCII. Each is a 4xx problem (404 for a host id
 * that cannot be one, 400 naming `port`), never a 500; the answer echoes the input only shortened
 * and printable; nothing is written; and a failing request logs the path shortened.
 */
import { createApi, GatewayStore, generateEd25519KeyPair, LocalSigner } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

const HOSTILE_IDS: Record<string, string> = {
  '10 KB': 'h-'.padEnd(10 * 1024, 'a'),
  'NUL': '%00',
  'NUL inside an id': 'h-aaaaaaaa%00aaaaaaa',
  'dot-dot': '..',
  'encoded dot-dot': '%2e%2e',
  'encoded slash': 'h-aaaaaaaa%2Faaaaaaa',
  'newline': 'h-aaaaaaaaaaaaaaaa%0A',
  'malformed percent-encoding': '%E0%A4%A',
  'unicode': '%F0%9F%92%A9',
  'unicode lookalike': 'h-aaaaaaaaaaaaaa%D0%B0',
  'upper case': 'h-AAAAAAAAAAAAAAAA',
  'SQL-ish': "h-'%20OR%201=1",
};

describe('hostile path parameters', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let host: { id: string; credential: string };
  const client = testDynamoClient();
  const logs: string[] = [];

  beforeAll(async () => {
    gw = await startTestGateway({ log: (line) => logs.push(line) });
    call = apiClient(gw.url);
    const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'target', role: 'environment', owner: { subject: 'alice', organization: 'acme' } } });
    const enrolled = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    host = { id: created.body.host.id, credential: enrolled.body.credential };
    expect((await call('GET', `/v1/hosts/${host.id}/config`, { token: host.credential })).status).toBe(200);
  });

  afterAll(async () => {
    await gw?.close();
    client.destroy();
  });

  /** Every route with a path parameter, with `id` (and `port`) in place. */
  const routes = (id: string, port = '3000'): [string, string, unknown?][] => [
    ['GET', `/v1/hosts/${id}`],
    ['PATCH', `/v1/hosts/${id}`, { owner: { subject: 'bob', organization: 'acme' } }],
    ['DELETE', `/v1/hosts/${id}`],
    ['PUT', `/v1/hosts/${id}/ports/${port}`, { access: 'public' }],
    ['DELETE', `/v1/hosts/${id}/ports/${port}`],
    ['GET', `/v1/hosts/${id}/config`],
    ['POST', `/v1/hosts/${id}/renew`, {}],
  ];

  function expectShortProblem(res: { status: number; headers: Headers; text: string; body: any }, status: number) {
    expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status, type: 'application/problem+json' });
    expect(res.text.length).toBeLessThan(400);
    expect(res.body.detail).toMatch(/^[\x20-\x7e]*$/);
  }

  test.each(Object.entries(HOSTILE_IDS))('a host id that is %s: 404 on every route, short and printable, nothing written', async (_, id) => {
    const before = await scanAll(client, gw.tableName);
    for (const [method, path, body] of routes(id)) {
      for (const token of [gw.adminToken, host.credential]) {
        const res = await call(method, path, { token, body });
        expect({ method, path: path.slice(0, 80), status: res.status }).toEqual({ method, path: path.slice(0, 80), status: 404 });
        expectShortProblem(res, 404);
      }
    }
    expect(await scanAll(client, gw.tableName)).toEqual(before);
  });

  test.each([
    ['10 KB', '9'.repeat(10 * 1024)],
    ['NUL', '%00'],
    ['unicode digits', '%D9%A3%D9%A0%D9%A0%D9%A0'],
    ['sign', '+3000'],
    ['zero', '0'],
    ['too big', '65536'],
  ])('a port that is %s: 400 naming port, nothing written', async (_, port) => {
    const before = await scanAll(client, gw.tableName);
    for (const [method, path, body] of routes(host.id, port).filter(([, p]) => p.includes('/ports/'))) {
      const res = await call(method, path, { token: gw.adminToken, body });
      expectShortProblem(res, 400);
      expect({ method, fields: res.body.errors.map((e: { field: string }) => e.field) }).toEqual({ method, fields: ['port'] });
    }
    expect(await scanAll(client, gw.tableName)).toEqual(before);
  });

  test('an unknown path of 10 KB is a short 404; no log line carries it', async () => {
    const long = `/v1/${'x'.repeat(10 * 1024)}`;
    const res = await call('GET', long, { token: gw.adminToken });
    expectShortProblem(res, 404);
    expect(logs.join('\n')).not.toContain('x'.repeat(100));
  });

  test('a request that fails inside the gateway logs its path shortened and printable', async () => {
    const logged: { message: string; fields?: Record<string, unknown> }[] = [];
    // A table that does not exist: the handler's store read fails, a 500 that is logged.
    const api = createApi(
      {
        store: new GatewayStore({ client, tableName: 'no-such-table' }),
        signer: new LocalSigner(generateEd25519KeyPair().privateKey),
        logger: { info: () => undefined, error: (message, fields) => logged.push({ message, fields }) },
      },
      ALL_ROUTES,
    );
    try {
      const path = `/v1/network${'/'.repeat(10 * 1024)}`;
      const res = await api({ method: 'GET', path, headers: {}, query: {}, body: Buffer.alloc(0) });
      expect(res.status).toBe(500);
      expect(logged).toHaveLength(1);
      expect(String(logged[0].fields?.path).length).toBeLessThanOrEqual(64);
      expect(String(logged[0].fields?.path)).toMatch(/^\/v1\/network\/+\.\.\.$/);
    } finally {
      api.close();
    }
  });
});
