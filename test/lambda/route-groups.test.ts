import { ROUTES } from '../../lib/constructs/gateway-api';
import { type ApiRequest, type ApiRoute, createApi, GatewayStore, generateEd25519KeyPair, LocalSigner } from '../../src/api';
import { ALL_ROUTES } from '../../src/api/route-groups/all';
import { ENROLL_ROUTES } from '../../src/api/route-groups/enroll';
import { HOST_ADMIN_ROUTES } from '../../src/api/route-groups/host-admin';
import { HOST_CONFIG_ROUTES } from '../../src/api/route-groups/host-config';
import { NODE_REGISTER_ROUTES } from '../../src/api/route-groups/node-register';
import { PUBLIC_ROUTES } from '../../src/api/route-groups/public';
import { testDynamoClient } from '../support/dynamodb';

// Each Lambda function serves only its route group; the groups must be exactly the routes
// API Gateway sends to that function, and the server must serve all of them.
const GROUPS: Record<(typeof ROUTES)[number]['fn'], readonly ApiRoute[]> = {
  public: PUBLIC_ROUTES,
  hostAdmin: HOST_ADMIN_ROUTES,
  enroll: ENROLL_ROUTES,
  hostConfig: HOST_CONFIG_ROUTES,
  nodeRegister: NODE_REGISTER_ROUTES,
};

const names = (routes: readonly { method: string; path: string }[]) => routes.map((r) => `${r.method} ${r.path}`).sort();

describe('route groups', () => {
  it.each(Object.entries(GROUPS))('%s serves exactly its API Gateway routes', (fn, group) => {
    expect(names(group)).toEqual(names(ROUTES.filter((r) => r.fn === fn)));
  });

  it('the server serves every API Gateway route', () => {
    expect(names(ALL_ROUTES)).toEqual(names(ROUTES));
  });

  it("answers another function's route with a problem+json 404 or 405, not its handler", async () => {
    // The store is never reached: routing fails first.
    const store = new GatewayStore({ client: testDynamoClient(), tableName: 'never-used' });
    const api = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey) }, PUBLIC_ROUTES);
    const request = (method: string, path: string): ApiRequest => ({ method, path, headers: {}, query: {}, body: Buffer.alloc(0) });
    try {
      const notServed = await api(request('POST', '/v1/hosts'));
      expect(notServed.status).toBe(404);
      expect(notServed.headers['content-type']).toBe('application/problem+json');
      expect(JSON.parse(notServed.body)).toMatchObject({ status: 404, detail: 'no route /v1/hosts' });

      const otherMethod = await api(request('POST', '/v1/network'));
      expect(otherMethod.status).toBe(405);
      expect(otherMethod.headers.allow).toBe('GET');
      expect(otherMethod.headers['content-type']).toBe('application/problem+json');
    } finally {
      api.close();
    }
  });
});
