import { encodeEd25519PublicKeyPem, encodePem, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, X25519_PUBLIC_KEY_BANNER } from '../../src/pki';
import { scanAll, testDynamoClient } from '../support/dynamodb';
import { apiClient, type HttpResult, startTestGateway, type TestGateway } from '../support/gateway';

const publicKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);

describe('bad input: a 4xx problem naming the field, and nothing written', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const client = testDynamoClient();
  let hostA: { id: string; credential: string };
  let hostB: { id: string; credential: string };
  let usedToken: string;

  beforeAll(async () => {
    gw = await startTestGateway({ enrollmentTokenTtlSeconds: 600 });
    call = apiClient(gw.url);
    const enrolled = async (name: string) => {
      const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name, role: 'environment', ip: name === 'a' ? '10.42.0.7' : undefined } });
      const result = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: publicKey() } });
      // Using the credential once kills the token.
      expect((await call('GET', `/v1/hosts/${result.body.hostId}/config`, { token: result.body.credential })).status).toBe(200);
      return { id: result.body.hostId as string, credential: result.body.credential as string, token: created.body.enrollment.token as string };
    };
    const a = await enrolled('a');
    hostA = a;
    hostB = await enrolled('b');
    usedToken = a.token;
  });

  afterAll(async () => {
    await gw?.close();
    client.destroy();
  });

  /** Runs a request and checks it is refused with `status`, naming `field`, with the table unchanged. */
  async function refused(status: number, field: string, request: () => Promise<HttpResult>): Promise<HttpResult> {
    const before = await scanAll(client, gw.tableName);
    const res = await request();
    expect({ status: res.status, type: res.headers.get('content-type') }).toEqual({ status, type: 'application/problem+json' });
    expect(res.body).toMatchObject({ status, type: expect.stringMatching(/^urn:nebula-gateway:problem:/), title: expect.any(String), detail: expect.any(String) });
    expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    const after = await scanAll(client, gw.tableName);
    expect(after).toEqual(before);
    return res;
  }

  const admin = () => gw.adminToken;
  const createHost = (body: unknown) => () => call('POST', '/v1/hosts', { token: admin(), body });

  test('malformed JSON', async () => {
    const res = await refused(400, 'body', () => call('POST', '/v1/hosts', { token: admin(), rawBody: '{"name": "x",', headers: { 'content-type': 'application/json' } }));
    expect(res.body.type).toBe('urn:nebula-gateway:problem:invalid-json');
    await refused(400, 'body', () => call('POST', '/v1/enroll', { rawBody: 'not json' }));
  });

  test('oversize body', async () => {
    const big = JSON.stringify({ name: 'x', role: 'environment', pad: 'x'.repeat(70 * 1024) });
    const res = await refused(413, 'body', () => call('POST', '/v1/hosts', { token: admin(), rawBody: big, headers: { 'content-type': 'application/json' } }));
    expect(res.body.type).toBe('urn:nebula-gateway:problem:payload-too-large');
  });

  test('unknown role, bad name, unknown field, bad groups, bad endpoints', async () => {
    await refused(400, 'role', createHost({ name: 'ok', role: 'database' }));
    await refused(400, 'role', createHost({ name: 'ok' }));
    await refused(400, 'name', createHost({ name: 'bad name!', role: 'environment' }));
    await refused(400, 'name', createHost({ name: 'x'.repeat(64), role: 'environment' }));
    await refused(400, 'name', createHost({ name: 42, role: 'environment' }));
    await refused(400, 'extra', createHost({ name: 'ok', role: 'environment', extra: 1 }));
    await refused(400, 'groups[1]', createHost({ name: 'ok', role: 'environment', groups: ['fine', 'Not OK'] }));
    await refused(400, 'groups[0]', createHost({ name: 'ok', role: 'environment', groups: ['proxy'] }));
    await refused(400, 'endpoints[0]', createHost({ name: 'ok', role: 'lighthouse', endpoints: ['198.18.0.1:99999'] }));
    await refused(400, 'endpoints', createHost({ name: 'ok', role: 'environment', endpoints: ['198.18.0.1:4242'] }));
    // One nebula listens on one port: endpoints naming two would leave one dead.
    const ports = await refused(400, 'endpoints', createHost({ name: 'ok', role: 'lighthouse', endpoints: ['198.18.0.1:4242', 'lh.example.com:4243'] }));
    expect(ports.body.detail).toMatch(/different ports \(4242, 4243\)/);
    await refused(400, 'body', () => call('POST', '/v1/hosts', { token: admin(), body: ['not', 'an', 'object'] }));
  });

  test('bad or out-of-range IP, and an address already leased', async () => {
    await refused(400, 'ip', createHost({ name: 'ok', role: 'environment', ip: '10.42.0.300' }));
    await refused(400, 'ip', createHost({ name: 'ok', role: 'environment', ip: 'ten' }));
    await refused(400, 'ip', createHost({ name: 'ok', role: 'environment', ip: '10.43.0.5' }));
    await refused(400, 'ip', createHost({ name: 'ok', role: 'environment', ip: '10.42.0.0' }));
    await refused(400, 'ip', createHost({ name: 'ok', role: 'environment', ip: '10.42.255.255' }));
    const taken = await refused(409, 'ip', createHost({ name: 'ok', role: 'environment', ip: '10.42.0.7' }));
    expect(taken.body.type).toBe('urn:nebula-gateway:problem:address-taken');
  });

  test('public key of the wrong banner, length or encoding', async () => {
    const created = await call('POST', '/v1/hosts', { token: admin(), body: { name: 'keys', role: 'environment' } });
    const token = created.body.enrollment.token;
    const enroll = (key: string) => () => call('POST', '/v1/enroll', { body: { token, publicKey: key } });
    await refused(400, 'publicKey', enroll(encodeEd25519PublicKeyPem(generateEd25519KeyPair().publicKey)));
    await refused(400, 'publicKey', enroll(encodePem(X25519_PUBLIC_KEY_BANNER, Buffer.alloc(31, 1))));
    await refused(400, 'publicKey', enroll(encodePem(X25519_PUBLIC_KEY_BANNER, Buffer.alloc(33, 1))));
    await refused(400, 'publicKey', enroll('-----BEGIN NEBULA X25519 PUBLIC KEY-----\n!!!!\n-----END NEBULA X25519 PUBLIC KEY-----\n'));
    await refused(400, 'publicKey', enroll(''));
    await refused(400, 'token', () => call('POST', '/v1/enroll', { body: { publicKey: publicKey() } }));
    // The token still works after all that.
    expect((await call('POST', '/v1/enroll', { body: { token, publicKey: publicKey() } })).status).toBe(200);
    // Renew with a bad key.
    await refused(400, 'publicKey', () => call('POST', `/v1/hosts/${hostA.id}/renew`, { token: hostA.credential, body: { publicKey: 'nope' } }));
  });

  test('small-order X25519 public keys (all zeros and every other), on enroll and renew', async () => {
    const created = await call('POST', '/v1/hosts', { token: admin(), body: { name: 'weak-keys', role: 'environment' } });
    const token = created.body.enrollment.token;
    const base = [
      '0000000000000000000000000000000000000000000000000000000000000000',
      '0100000000000000000000000000000000000000000000000000000000000000',
      'e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800',
      '5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157',
      'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
      'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    ];
    const all = [...base, ...base.map((hex) => hex.slice(0, 62) + (parseInt(hex.slice(62), 16) | 0x80).toString(16))];
    expect(new Set(all).size).toBe(14);
    for (const hex of all) {
      const key = encodePem(X25519_PUBLIC_KEY_BANNER, Buffer.from(hex, 'hex'));
      const res = await refused(400, 'publicKey', () => call('POST', '/v1/enroll', { body: { token, publicKey: key } }));
      expect(res.body.detail).toMatch(/small-order/);
      await refused(400, 'publicKey', () => call('POST', `/v1/hosts/${hostA.id}/renew`, { token: hostA.credential, body: { publicKey: key } }));
    }
    // The token was not spent by any of that.
    expect((await call('POST', '/v1/enroll', { body: { token, publicKey: publicKey() } })).status).toBe(200);
  });

  test('replayed, unknown and foreign tokens', async () => {
    await refused(401, 'token', () => call('POST', '/v1/enroll', { body: { token: usedToken, publicKey: publicKey() } }));
    await refused(401, 'token', () => call('POST', '/v1/enroll', { body: { token: 'gwe_unknown', publicKey: publicKey() } }));
    await refused(401, 'token', () => call('POST', '/v1/enroll', { body: { token: gw.adminToken, publicKey: publicKey() } }));
  });

  test('missing or wrong admin token', async () => {
    const body = { name: 'ok', role: 'environment' };
    const missing = await refused(401, 'authorization', () => call('POST', '/v1/hosts', { body }));
    expect(missing.headers.get('www-authenticate')).toBe('Bearer');
    await refused(401, 'authorization', () => call('POST', '/v1/hosts', { body, token: 'gwa_wrong' }));
    await refused(401, 'authorization', () => call('POST', '/v1/hosts', { body, token: hostA.credential }));
    await refused(401, 'authorization', () => call('GET', '/v1/hosts'));
    await refused(401, 'authorization', () => call('DELETE', `/v1/hosts/${hostB.id}`, { token: `${gw.adminToken}x` }));
  });

  test("host A's credential on host B", async () => {
    await refused(401, 'authorization', () => call('GET', `/v1/hosts/${hostB.id}/config`, { token: hostA.credential }));
    await refused(401, 'authorization', () => call('POST', `/v1/hosts/${hostB.id}/renew`, { token: hostA.credential }));
    await refused(401, 'authorization', () => call('GET', `/v1/hosts/${hostB.id}/config`, { token: gw.adminToken }));
    await refused(401, 'authorization', () => call('GET', `/v1/hosts/${hostB.id}/config`));
  });

  test('bad query parameters', async () => {
    await refused(400, 'role', () => call('GET', '/v1/hosts?role=database', { token: admin() }));
    await refused(400, 'limit', () => call('GET', '/v1/hosts?limit=0', { token: admin() }));
    await refused(400, 'cursor', () => call('GET', '/v1/hosts?cursor=garbage', { token: admin() }));
    await refused(400, 'wait', () => call('GET', `/v1/hosts/${hostA.id}/config?wait=61`, { token: hostA.credential }));
  });

  test('an expired token', async () => {
    const created = await call('POST', '/v1/hosts', { token: admin(), body: { name: 'late', role: 'environment' } });
    gw.clock.advance(601_000);
    const res = await refused(401, 'token', () => call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: publicKey() } }));
    expect(res.body.detail).toMatch(/expired/);
  });
});
