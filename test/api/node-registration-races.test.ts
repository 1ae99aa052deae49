/**
 * Node registration (src/api/routes/nodes.ts) when registrations overlap, on DynamoDB Local. Each
 * race is forced deterministically: the store the API uses is the real one, with hooks that hold
 * both requests past their reads until both are there, then let their writes through one at a
 * time. The node verifier is a stand-in (EC2 is covered by node-registration-each-guard-refuses).
 * The rules:
 * - the same instance registering twice at once: one host, one certificate bound; the other
 *   request gets 409 concurrent-registration (retry), never a second host or a 500;
 * - two instances registering one public key at once: the first keeps it, the other gets 409
 *   public-key-taken naming publicKey;
 * - a store failure while binding is a 500, never reported as a concurrent registration.
 */
import { createApi, type Api, type ApiRequest, hashSecret, type NodeVerifier } from '../../src/api';
import { NODE_REGISTER_ROUTES } from '../../src/api/route-groups/node-register';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, encodeX25519PublicKeyPem, generateEd25519KeyPair, generateX25519KeyPair, LocalSigner } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { dropTable, scanAll, testDynamoClient, uniqueTableName } from '../support/dynamodb';
import { barrier } from '../support/barrier';

const ADMIN = 'gwa_node-races-admin';

/** Runs the calls it wraps one after another, in the order they arrive. */
function oneAtATime<A extends unknown[], R>(call: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  let last: Promise<unknown> = Promise.resolve();
  return (...args) => {
    const run = last.then(() => call(...args));
    last = run.catch(() => undefined);
    return run;
  };
}

type Hooks = { [K in keyof GatewayStore]?: GatewayStore[K] };

describe('node registration races', () => {
  const client = testDynamoClient();
  const tableName = uniqueTableName('gw-node-races');
  let store: GatewayStore;
  let api: Api;
  let hooks: Hooks = {};
  let instanceCounter = 0x200;
  const nextInstance = () => `i-0000000000000${(instanceCounter++).toString(16)}`;

  beforeAll(async () => {
    await ensureTable(client, tableName);
    store = new GatewayStore({ client, tableName });
    const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'node-races', duration: '24h' });
    await store.initNetwork({ cidr: '10.62.0.0/24', caBundle: ca.toPem(), policy: { ...DEFAULT_NETWORK_POLICY }, createdAt: new Date().toISOString() });
    const verifier = { verify: async () => ({ privateIp: '10.40.2.10' }) } as unknown as NodeVerifier;
    const hooked = new Proxy(store, {
      get(target, name: string) {
        const hook = hooks[name as keyof GatewayStore];
        if (hook) return hook;
        const value = Reflect.get(target, name, target) as unknown;
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    api = createApi({ store: hooked, signer, adminTokenHash: hashSecret(ADMIN), nodeVerifier: verifier }, NODE_REGISTER_ROUTES);
  });
  afterEach(() => {
    hooks = {};
  });
  afterAll(async () => {
    api?.close();
    await dropTable(client, tableName);
    client.destroy();
  });

  const newKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
  const register = async (instanceId: string, publicKey: string) => {
    const response = await api({
      method: 'POST',
      path: '/v1/nodes/register',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${ADMIN}` },
      query: {},
      body: Buffer.from(JSON.stringify({ role: 'proxy', publicKey, instanceId })),
    } satisfies ApiRequest);
    return { status: response.status, body: JSON.parse(response.body as string) };
  };
  /** The writes that bind a certificate, one at a time, each entered only once both requests have read. */
  const holdWrites = () => {
    const bothThere = barrier(2);
    const complete = oneAtATime((input: Parameters<GatewayStore['completeEnrollment']>[0]) => store.completeEnrollment(input));
    const record = oneAtATime((input: Parameters<GatewayStore['recordCertificate']>[0]) => store.recordCertificate(input));
    hooks.completeEnrollment = async (input) => {
      await bothThere();
      return complete(input);
    };
    hooks.recordCertificate = async (input) => {
      await bothThere();
      return record(input);
    };
  };

  it('the same instance twice at once, both finding no host: one host, one binding, the other 409 retry', async () => {
    const instanceId = nextInstance();
    const bothLooked = barrier(2);
    let lookups = 0;
    hooks.getHostIdForInstance = async (id: string) => {
      const found = await store.getHostIdForInstance(id);
      // The first lookup of each request: neither has created the host yet.
      if (++lookups <= 2) await bothLooked();
      return found;
    };
    holdWrites();
    const answers = await Promise.all([register(instanceId, newKey()), register(instanceId, newKey())]);
    hooks = {};
    const statuses = answers.map((a) => a.status).sort();
    expect(statuses).toEqual([200, 409]);
    const lost = answers.find((a) => a.status === 409)!;
    expect(lost.body).toMatchObject({ type: expect.stringMatching(/concurrent-registration$/), detail: `instance ${instanceId} is registering concurrently; retry` });
    expect(lost.body.credential).toBeUndefined();
    const hosts = (await scanAll(client, tableName)).filter((i) => i.name === instanceId && String(i.pk).startsWith('HOST#'));
    expect(hosts.map((h) => h.status)).toEqual(['active']);
    // A retry of the loser re-registers the same host.
    const retry = await register(instanceId, newKey());
    expect(retry).toMatchObject({ status: 200, body: { hostId: answers.find((a) => a.status === 200)!.body.hostId } });
  });

  it('a store failure while binding the certificate is a 500 that names nothing of it, not a concurrent registration', async () => {
    const instanceId = nextInstance();
    hooks.completeEnrollment = () => Promise.reject(new Error('simulated DynamoDB outage: InternalServerError'));
    const failed = await register(instanceId, newKey());
    hooks = {};
    expect(failed).toEqual({ status: 500, body: expect.objectContaining({ type: expect.stringMatching(/internal$/) }) });
    expect(JSON.stringify(failed.body)).not.toMatch(/DynamoDB|InternalServerError|concurrent/);
    // Nothing was bound: registering again works.
    expect((await register(instanceId, newKey())).status).toBe(200);
  });

  it('two instances with one public key at once, both finding it free: the first keeps it, the other gets 409 naming publicKey', async () => {
    const key = newKey();
    const [first, second] = [nextInstance(), nextInstance()];
    const bothChecked = barrier(2);
    hooks.getPublicKeyHolder = async (pem: string) => {
      const holder = await store.getPublicKeyHolder(pem);
      await bothChecked();
      return holder;
    };
    holdWrites();
    const answers = await Promise.all([register(first, key), register(second, key)]);
    hooks = {};
    expect(answers.map((a) => a.status).sort()).toEqual([200, 409]);
    const lost = answers.find((a) => a.status === 409)!;
    expect(lost.body).toMatchObject({ type: expect.stringMatching(/public-key-taken$/), errors: [expect.objectContaining({ field: 'publicKey' })] });
    const winner = answers.find((a) => a.status === 200)!;
    expect(await store.getPublicKeyHolder(key)).toBe(winner.body.hostId);
  });
});
