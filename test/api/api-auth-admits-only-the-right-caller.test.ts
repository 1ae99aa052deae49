/**
 * API authentication (src/api/auth.ts) through the API itself, on DynamoDB Local. The rule: an
 * admin route admits only the admin token (locally) or an admin role's IAM identity (behind API
 * Gateway), a host route only that host's own credential or its instance's IAM identity; every
 * other caller is refused with a problem saying what is missing, and refusals write nothing.
 */
import { createApi, type Api, type ApiRequest, hashSecret, parseAdminRoleArns } from '../../src/api';
import { instanceIdOf } from '../../src/api/auth';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { Ipv4Cidr } from '../../src/mesh/cidr';
import { newHostId } from '../../src/api/secrets';
import { createCA, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner, type NebulaCertificate, signCertificate } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';

const ADMIN = 'gwa_api-auth-admin-token';
const ACCOUNT = '123456789012';
const ADMIN_ROLE = `arn:aws:iam::${ACCOUNT}:role/PlatformAdmin`;

function request(method: string, path: string, options: { authorization?: string; iam?: string; body?: unknown } = {}): ApiRequest {
  return {
    method,
    path,
    headers: { ...(options.authorization !== undefined ? { authorization: options.authorization } : {}), ...(options.body ? { 'content-type': 'application/json' } : {}) },
    query: {},
    body: Buffer.from(options.body === undefined ? '' : JSON.stringify(options.body)),
    ...(options.iam ? { iam: { arn: options.iam, accountId: ACCOUNT } } : {}),
  };
}

describe('API auth admits only the right caller', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-auth');
  let store: GatewayStore;
  let api: Api;
  let ca: NebulaCertificate;
  let signer: LocalSigner;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    store = new GatewayStore({ client, tableName });
    signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    ca = await createCA({ signer, name: 'auth', duration: '24h' });
    await store.initNetwork({ cidr: '10.95.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date().toISOString() });
    api = createApi({ store, signer, adminTokenHash: hashSecret(ADMIN), adminRoles: parseAdminRoleArns(ADMIN_ROLE, 'adminRoles') }, ALL_ROUTES);
  });
  afterAll(async () => {
    api?.close();
    await dropTable(client, tableName);
    client.destroy();
  });

  const answer = async (req: ApiRequest) => {
    const res = await api(req);
    return { status: res.status, body: res.body ? JSON.parse(res.body as string) : undefined };
  };
  /** Creates a host as the admin and enrolls it; its id and credential. */
  async function enrolledHost(name: string) {
    const created = await answer(request('POST', '/v1/hosts', { authorization: `Bearer ${ADMIN}`, body: { name, role: 'environment' } }));
    expect(created.status).toBe(201);
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    const enrolled = await answer(request('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey } }));
    expect(enrolled.status).toBe(200);
    return { id: created.body.host.id as string, credential: enrolled.body.credential as string, token: created.body.enrollment.token as string, publicKey };
  }

  describe('admin routes', () => {
    it.each([
      ['Bearer, as written', `Bearer ${ADMIN}`],
      ['bearer in any case, extra blanks', `bEaReR   ${ADMIN}  `],
    ])('admit the admin token: %s', async (_, authorization) => {
      expect((await answer(request('GET', '/v1/hosts', { authorization }))).status).toBe(200);
    });

    it.each([
      ['no Authorization header', undefined, 'this route needs the admin token: Authorization: Bearer gwa_...'],
      ['an empty header', '', 'this route needs the admin token: Authorization: Bearer gwa_...'],
      ['another scheme', `Basic ${ADMIN}`, 'this route needs the admin token: Authorization: Bearer gwa_...'],
      ['the scheme alone', 'Bearer', 'this route needs the admin token: Authorization: Bearer gwa_...'],
      ['two tokens', `Bearer ${ADMIN} ${ADMIN}`, 'this route needs the admin token: Authorization: Bearer gwa_...'],
      ['text before the scheme', `xBearer ${ADMIN}`, 'this route needs the admin token: Authorization: Bearer gwa_...'],
      ['a wrong token', 'Bearer gwa_not-the-admin-token', 'the admin token is not valid'],
      ['the token with one character more', `Bearer ${ADMIN}x`, 'the admin token is not valid'],
      ['a host credential', 'Bearer gwh_whatever', 'the admin token is not valid'],
    ])('refuse %s: 401 saying what is missing', async (_, authorization, detail) => {
      const res = await answer(request('GET', '/v1/hosts', { authorization }));
      expect(res).toMatchObject({ status: 401, body: { detail } });
    });

    it('refuse a secret whose hash matches but that is not an admin token (no gwa_ prefix)', async () => {
      const unprefixed = 'not-prefixed-admin-secret';
      const odd = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey), adminTokenHash: hashSecret(unprefixed) }, ALL_ROUTES);
      try {
        const res = await odd(request('GET', '/v1/hosts', { authorization: `Bearer ${unprefixed}` }));
        expect(res.status).toBe(401);
      } finally {
        odd.close();
      }
    });

    it('admit an admin role and its sessions by IAM; refuse other IAM callers with 403 naming them, even with the admin token', async () => {
      for (const iam of [ADMIN_ROLE, `arn:aws:sts::${ACCOUNT}:assumed-role/PlatformAdmin/alice`]) {
        expect((await answer(request('GET', '/v1/hosts', { iam }))).status).toBe(200);
      }
      const other = `arn:aws:sts::${ACCOUNT}:assumed-role/Developer/bob`;
      const before = await scanAll(client, tableName);
      const refused = await answer(request('POST', '/v1/hosts', { iam: other, authorization: `Bearer ${ADMIN}`, body: { name: 'by-bob', role: 'environment' } }));
      expect(refused).toMatchObject({ status: 403, body: { type: expect.stringMatching(/not-an-admin$/), title: 'Forbidden', detail: `${other} is not one of the gateway's admin roles or a session of one` } });
      expect(await scanAll(client, tableName)).toEqual(before);
    });
  });

  it('without admin roles configured, no IAM caller is an admin', async () => {
    const noRoles = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey), adminTokenHash: hashSecret(ADMIN) }, ALL_ROUTES);
    try {
      expect((await noRoles(request('GET', '/v1/hosts', { iam: ADMIN_ROLE }))).status).toBe(403);
    } finally {
      noRoles.close();
    }
  });

  it('reads the instance id only from an assumed-role session named exactly for an instance', () => {
    const cases: [string, string | undefined][] = [
      [`arn:aws:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/i-0123456789abcdef0`, 'i-0123456789abcdef0'],
      [`arn:aws-cn:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/i-01234567`, 'i-01234567'],
      [`xarn:aws:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/i-0123456789abcdef0`, undefined],
      [`arn:aws:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/i-0123456789abcdef0x`, undefined],
      [`arn:aws:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/i-0123456`, undefined],
      [`arn:aws0:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/i-0123456789abcdef0`, undefined],
      [`arn:aws:iam::${ACCOUNT}:user/i-0123456789abcdef0`, undefined],
    ];
    for (const [arn, instance] of cases) expect({ arn, instance: instanceIdOf(arn) }).toEqual({ arn, instance });
  });

  describe('host routes', () => {
    it("admit the host's own credential, and its first use kills the enrollment token", async () => {
      const host = await enrolledHost('own-credential');
      expect((await answer(request('GET', `/v1/hosts/${host.id}/config`, { authorization: `Bearer ${host.credential}` }))).status).toBe(200);
      const firstUse = (await store.getHost(host.id))?.credentialUsedAt;
      expect(firstUse).toEqual(expect.any(String));
      // Later uses do not move the first use.
      await new Promise((r) => setTimeout(r, 5));
      expect((await answer(request('GET', `/v1/hosts/${host.id}/config`, { authorization: `Bearer ${host.credential}` }))).status).toBe(200);
      expect((await store.getHost(host.id))?.credentialUsedAt).toBe(firstUse);
      // A retry of the enrollment with the same token and key no longer works.
      const retry = await answer(request('POST', '/v1/enroll', { body: { token: host.token, publicKey: host.publicKey } }));
      expect(retry).toMatchObject({ status: 401, body: { detail: 'the enrollment token is unknown, used up or expired' } });
    });

    it('refuse no credential, the admin token, an enrollment token, another host\'s credential: 401 naming the host', async () => {
      const a = await enrolledHost('host-a');
      const b = await enrolledHost('host-b');
      const path = `/v1/hosts/${a.id}/config`;
      expect(await answer(request('GET', path))).toMatchObject({ status: 401, body: { detail: 'this route needs the host credential: Authorization: Bearer gwh_...' } });
      for (const authorization of [`Bearer ${ADMIN}`, `Bearer ${a.token}`, `Bearer ${b.credential}`, `Bearer ${a.credential}x`, `Bearer ${a.credential.slice(4)}`]) {
        expect({ authorization, ...(await answer(request('GET', path, { authorization }))) }).toMatchObject({ authorization, status: 401, body: { detail: `the credential is not valid for host ${a.id}` } });
      }
      // Refusals did not count as a use of a's credential.
      expect((await store.getHost(a.id))?.credentialUsedAt).toBeUndefined();
      const nobody = newHostId();
      const unknown = await answer(request('GET', `/v1/hosts/${nobody}/config`, { authorization: `Bearer ${a.credential}` }));
      expect(unknown).toMatchObject({ status: 401, body: { detail: `the credential is not valid for host ${nobody}` } });
    });

    it("admit the IAM identity of the host's own active instance only", async () => {
      const instanceId = 'i-0ddddddddddddddd1';
      const { host } = await store.createHost({
        host: { id: newHostId(), name: instanceId, role: 'proxy', groups: [], instanceId },
        cidr: Ipv4Cidr.parse('10.95.0.0/24'),
        token: { hash: 'unused-token-hash', expiresAt: new Date(Date.now() + 3600_000) },
        now: new Date(),
      });
      const session = (id: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/${id}`;
      const path = `/v1/hosts/${host.id}/config`;
      // Pending (never registered): not yet.
      expect(await answer(request('GET', path, { iam: session(instanceId) }))).toMatchObject({ status: 403, body: { detail: `the caller's identity is not host ${host.id}'s instance` } });
      const key = generateX25519KeyPair().publicKey;
      const cert = await signCertificate({ ca, signer, name: instanceId, ips: [`${host.ip}/24`], groups: ['proxy'], publicKey: key, duration: 3600_000 });
      const certificate = { pem: cert.toPem(), fingerprint: cert.fingerprint(), notAfter: cert.details.notAfter, publicKey: encodeX25519PublicKeyPem(key) };
      await store.completeEnrollment({ host, tokenHash: 'unused-token-hash', credentialHash: hashSecret('gwh_instance'), certificate, now: new Date() });
      expect((await answer(request('GET', path, { iam: session(instanceId) }))).status).toBe(200);
      for (const iam of [session('i-0ddddddddddddddd2'), `arn:aws:sts::${ACCOUNT}:assumed-role/GatewayProxyRole/alice`, `arn:aws:iam::${ACCOUNT}:user/${instanceId}`]) {
        expect({ iam, status: (await answer(request('GET', path, { iam }))).status }).toEqual({ iam, status: 403 });
      }
      // Another host's path with this instance's identity; a host of no instance with an identity of no instance.
      const other = await enrolledHost('not-the-instance');
      expect(await answer(request('GET', `/v1/hosts/${other.id}/config`, { iam: session(instanceId) }))).toMatchObject({ status: 403, body: { type: expect.stringMatching(/forbidden$/), title: 'Forbidden' } });
      expect((await answer(request('GET', `/v1/hosts/${other.id}/config`, { iam: `arn:aws:iam::${ACCOUNT}:user/alice` }))).status).toBe(403);
      // A credential whose hash matches but that is not a host credential (no gwh_ prefix) is refused.
      await store.recordCertificate({ host: (await store.getHost(host.id))!, certificate, credentialHash: hashSecret('plain-secret'), now: new Date() });
      expect((await answer(request('GET', path, { authorization: 'Bearer plain-secret' }))).status).toBe(401);
      // With a bearer token as well, the token decides.
      expect((await answer(request('GET', path, { iam: session(instanceId), authorization: 'Bearer gwh_wrong' }))).status).toBe(401);
    });
  });
});
