import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApi, GatewayStore, hashSecret } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { loadAccessTokenPublicKey, MAX_ACCESS_TOKEN_TTL_SECONDS, verifyAccessToken } from '../../src/mesh/access-token';
import { encodeEd25519PrivateKeyPem, generateEd25519KeyPair, LocalSigner, NebulaCertificate } from '../../src/pki';
import { loadOrCreateTokenSigningKey } from '../../src/server/token-signing-key';
import { testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

/** Access tokens for the proxies: minted by the gateway with its own key, verified offline. */

describe('access tokens', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    gw = await startTestGateway();
    call = apiClient(gw.url);
  });
  afterAll(async () => {
    await gw?.close();
  });

  test('minted for a principal, verified with the key from /v1/network, never with the CA key', async () => {
    const network = (await call('GET', '/v1/network')).body;
    expect(network.accessTokenPublicKey).toMatch(/^-----BEGIN PUBLIC KEY-----\n/);
    const publicKey = loadAccessTokenPublicKey(network.accessTokenPublicKey);

    const before = gw.clock().getTime();
    const res = await call('POST', '/v1/access-tokens', { token: gw.adminToken, body: { subject: 'alice@example.com', organization: 'acme' } });
    const after = gw.clock().getTime();
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(['expiresAt', 'token']);
    const verified = verifyAccessToken(res.body.token, publicKey);
    expect(verified.principal).toEqual({ subject: 'alice@example.com', organization: 'acme' });
    expect(verified.expiresAt.toISOString()).toBe(res.body.expiresAt);
    // The default lifetime is an hour (whole seconds, as in the token) from a moment while the
    // request was served: bracketed by the gateway's clock, however long the request took.
    const issuedAt = Date.parse(res.body.expiresAt) - 3600_000;
    expect(issuedAt).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000);
    expect(issuedAt).toBeLessThanOrEqual(after);

    const short = await call('POST', '/v1/access-tokens', { token: gw.adminToken, body: { subject: 'bob', organization: 'acme', ttlSeconds: 120 } });
    expect(short.status).toBe(201);
    expect(verifyAccessToken(short.body.token, publicKey).principal.subject).toBe('bob');
    expect(Date.parse(short.body.expiresAt) - Date.parse(res.body.expiresAt)).toBeLessThan(0);

    // Not the CA key: the CA's public key does not verify the token.
    const ca = NebulaCertificate.fromPem(network.ca);
    expect(() => verifyAccessToken(res.body.token, loadAccessTokenPublicKey(ca.details.publicKey))).toThrow(/signature/);
  });

  test('the local signing key lives in <data-dir>/token-signing.key (0600) and is not ca.key', async () => {
    const path = join(gw.dataDir, 'token-signing.key');
    expect(gw.tokenSigningKeyPath).toBe(path);
    expect((await stat(path)).mode & 0o777).toBe(0o600);
    expect(await readFile(path, 'utf8')).not.toBe(await readFile(join(gw.dataDir, 'ca.key'), 'utf8'));
  });

  test('bad input names the field; only the admin mints', async () => {
    const cases: [unknown, string][] = [
      [{ organization: 'acme' }, 'subject'],
      [{ subject: '', organization: 'acme' }, 'subject'],
      [{ subject: 'al ice', organization: 'acme' }, 'subject'],
      [{ subject: 'alice' }, 'organization'],
      [{ subject: 'alice', organization: 'ac/me' }, 'organization'],
      [{ subject: 'alice', organization: 'acme', ttlSeconds: 0 }, 'ttlSeconds'],
      [{ subject: 'alice', organization: 'acme', ttlSeconds: MAX_ACCESS_TOKEN_TTL_SECONDS + 1 }, 'ttlSeconds'],
      [{ subject: 'alice', organization: 'acme', ttlSeconds: 90.5 }, 'ttlSeconds'],
      [{ subject: 'alice', organization: 'acme', ttlSeconds: '600' }, 'ttlSeconds'],
      [{ subject: 'alice', organization: 'acme', admin: true }, 'admin'],
    ];
    for (const [body, field] of cases) {
      const res = await call('POST', '/v1/access-tokens', { token: gw.adminToken, body });
      expect({ body, status: res.status }).toEqual({ body, status: 400 });
      expect(res.headers.get('content-type')).toBe('application/problem+json');
      expect(res.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      expect(res.text).not.toMatch(/eyJ/);
    }
    const body = { subject: 'alice', organization: 'acme' };
    for (const token of [undefined, 'gwa_wrong', 'gwh_host-credential']) {
      const res = await call('POST', '/v1/access-tokens', { token, body });
      expect(res.status).toBe(401);
      expect(res.body.errors[0].field).toBe('authorization');
    }
  });

  test('without a token signer the route answers 501 and the network shows no key', async () => {
    const client = testDynamoClient();
    const store = new GatewayStore({ client, tableName: gw.tableName });
    const api = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey), adminTokenHash: hashSecret('gwa_admin') }, ALL_ROUTES);
    const request = (method: string, path: string, body?: unknown) => ({
      method,
      path,
      headers: { authorization: 'Bearer gwa_admin' },
      query: {},
      body: Buffer.from(body === undefined ? '' : JSON.stringify(body)),
    });
    try {
      expect((await api(request('POST', '/v1/access-tokens', { subject: 'alice', organization: 'acme' }))).status).toBe(501);
      expect(JSON.parse((await api(request('GET', '/v1/network'))).body).accessTokenPublicKey).toBeUndefined();
    } finally {
      api.close();
      client.destroy();
    }
  });
});

describe('loadOrCreateTokenSigningKey', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-token-key-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  test('creates the key once, reuses it, and refuses the CA key', async () => {
    const ca = generateEd25519KeyPair();
    const first = await loadOrCreateTokenSigningKey(dir, ca.publicKey);
    expect(first.created).toBe(true);
    expect((await stat(first.path)).mode & 0o777).toBe(0o600);
    const again = await loadOrCreateTokenSigningKey(dir, ca.publicKey);
    expect(again.created).toBe(false);
    expect(Buffer.from(await again.signer.publicKey())).toEqual(Buffer.from(await first.signer.publicKey()));

    const other = await mkdtemp(join(dir, 'ca-'));
    await writeFile(join(other, 'token-signing.key'), encodeEd25519PrivateKeyPem(ca.privateKey), { mode: 0o600 });
    await expect(loadOrCreateTokenSigningKey(other, ca.publicKey)).rejects.toThrow(/holds the CA key/);
  });
});
