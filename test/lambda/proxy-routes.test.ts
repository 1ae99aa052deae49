import { generateKeyPairSync, sign as nodeSign } from 'node:crypto';
import { DeleteTableCommand, DynamoDBClient, ScanCommand } from '@aws-sdk/client-dynamodb';
import { GetPublicKeyCommand, KMSClient, SignCommand } from '@aws-sdk/client-kms';
import { mockClient } from 'aws-sdk-client-mock';
import { loadAccessTokenPublicKey, verifyAccessToken } from '../../src/mesh/access-token';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';
import { applyCaRequest } from '../../lambda/ca-init';
import * as enroll from '../../lambda/enroll';
import * as hostAdmin from '../../lambda/host-admin';
import * as hostConfig from '../../lambda/host-config';
import * as publicApi from '../../lambda/public-api';
import type { RestApiEvent, RestApiResult } from '../../lambda/shared/apigw';
import { logger } from '../../lambda/shared/logger';
import { signerFromEnvironment, tokenSignerFromEnvironment } from '../../lambda/shared/signer';
import { restApiEvent } from './support/events';
import { waitUntil } from '../support/wait';

// Issue 6's routes as deployed: ports and access tokens on host-admin (IAM), the route table on
// host-config (proxy credential), the token public key on public-api, with API Gateway REST
// (payload 1.0) events against DynamoDB Local. KMS has no local implementation here, so it is
// mocked with aws-sdk-client-mock; the mock signs for real with two local Ed25519 keys, one per
// KMS key, so certificates and access tokens verify. Each function is built from the environment
// its CDK stack gives it, on its first invocation, as in Lambda.
const TABLE = `lambda-routes-${Date.now().toString(36)}`;
const CA_KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/11111111-2222-3333-4444-555555555555';
const TOKEN_KEY_ARN = 'arn:aws:kms:us-east-1:111122223333:key/66666666-7777-8888-9999-000000000000';
const ADMIN_ARN = 'arn:aws:sts::111122223333:assumed-role/PlatformAdmin/alice';
const OWNER = { subject: 'alice', organization: 'acme' };

const kms = mockClient(KMSClient);
const keys = { [CA_KEY_ARN]: generateKeyPairSync('ed25519'), [TOKEN_KEY_ARN]: generateKeyPairSync('ed25519') };
const dynamo = new DynamoDBClient({});
const itemCount = async () => (await dynamo.send(new ScanCommand({ TableName: TABLE, Select: 'COUNT', ConsistentRead: true }))).Count ?? 0;
const json = (result: RestApiResult) => JSON.parse(result.body) as Record<string, any>;

const KEY_VARIABLES = ['CA_KEY_BACKEND', 'CA_KEY_ARN', 'TOKEN_KEY_BACKEND', 'TOKEN_KEY_ARN', 'TOKEN_PUBLIC_KEY'];
let tokenPublicKeyBase64 = '';
const functions: Record<string, { handler: (event: RestApiEvent) => Promise<RestApiResult>; env: () => Record<string, string> }> = {
  hostAdmin: { handler: hostAdmin.handler, env: () => ({ TOKEN_KEY_BACKEND: 'kms', TOKEN_KEY_ARN, GATEWAY_ADMIN_ROLE_ARNS: 'arn:aws:iam::111122223333:role/PlatformAdmin' }) },
  enroll: { handler: enroll.handler, env: () => ({ CA_KEY_BACKEND: 'kms', CA_KEY_ARN }) },
  hostConfig: { handler: hostConfig.handler, env: () => ({}) },
  publicApi: { handler: publicApi.handler, env: () => ({ TOKEN_PUBLIC_KEY: tokenPublicKeyBase64 }) },
};
const built = new Set<string>();

/** Invokes a function; the first time, with only the key variables its stack sets. */
async function invoke(name: keyof typeof functions, event: RestApiEvent): Promise<RestApiResult> {
  if (!built.has(name)) {
    for (const key of KEY_VARIABLES) delete process.env[key];
    Object.assign(process.env, functions[name].env());
    built.add(name);
  }
  return functions[name].handler(event);
}

beforeAll(async () => {
  Object.assign(process.env, { TABLE_NAME: TABLE, CERT_LIFETIME_HOURS: '24' });
  logger.setLogLevel('SILENT');
  kms.on(GetPublicKeyCommand).callsFake((input: { KeyId: keyof typeof keys }) => ({
    KeyId: input.KeyId,
    PublicKey: keys[input.KeyId].publicKey.export({ format: 'der', type: 'spki' }),
    KeySpec: 'ECC_NIST_EDWARDS25519',
    KeyUsage: 'SIGN_VERIFY',
  }));
  kms.on(SignCommand).callsFake((input: { KeyId: keyof typeof keys; Message: Uint8Array }) => ({
    KeyId: input.KeyId,
    SigningAlgorithm: 'ED25519_SHA_512',
    Signature: nodeSign(null, Buffer.from(input.Message), keys[input.KeyId].privateKey),
  }));
  await ensureTable(dynamo, TABLE);
});

afterAll(async () => {
  await dynamo.send(new DeleteTableCommand({ TableName: TABLE }));
  dynamo.destroy();
  kms.restore();
});

describe('ports, route table and access tokens through the Lambda functions', () => {
  let environmentId: string;
  let proxyId: string;
  let proxyCredential: string;

  it('ca-init records the network and reads the access token public key for the stack', async () => {
    const store = new GatewayStore({ client: dynamo, tableName: TABLE });
    const result = await applyCaRequest(
      {
        RequestType: 'Create',
        ResponseURL: 'http://127.0.0.1:9/unused',
        StackId: 'arn:aws:cloudformation:us-east-1:111122223333:stack/NebulaGateway-State/guid',
        RequestId: 'req-1',
        LogicalResourceId: 'CaRecord',
        ResourceProperties: { TableName: TABLE, OverlayCidr: '100.100.0.0/16', CaName: 'NebulaGateway CA', CaLifetimeDays: '3650', AccessTokenKeyArn: TOKEN_KEY_ARN },
      },
      {
        store,
        signer: signerFromEnvironment({ CA_KEY_BACKEND: 'kms', CA_KEY_ARN }),
        tokenSigner: tokenSignerFromEnvironment({ TOKEN_KEY_BACKEND: 'kms', TOKEN_KEY_ARN }),
      },
    );
    const raw = keys[TOKEN_KEY_ARN].publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
    expect(result.accessTokenPublicKey).toBe(raw.toString('base64'));
    tokenPublicKeyBase64 = result.accessTokenPublicKey!;
  });

  it('host-admin creates an owned environment and a proxy; the proxy enrolls for its credential', async () => {
    const env = await invoke('hostAdmin', restApiEvent({ method: 'POST', resource: '/v1/hosts', body: { name: 'dev-1', role: 'environment', owner: OWNER }, iamArn: ADMIN_ARN }));
    expect(env.statusCode).toBe(201);
    environmentId = json(env).host.id;
    const proxy = await invoke('hostAdmin', restApiEvent({ method: 'POST', resource: '/v1/hosts', body: { name: 'proxy-1', role: 'proxy' }, iamArn: ADMIN_ARN }));
    expect(proxy.statusCode).toBe(201);
    proxyId = json(proxy).host.id;
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    const enrolled = await invoke('enroll', restApiEvent({ method: 'POST', resource: '/v1/enroll', body: { token: json(proxy).enrollment.token, publicKey } }));
    expect(enrolled.statusCode).toBe(200);
    proxyCredential = json(enrolled).credential;
  });

  it('a port PUT on host-admin shows in the proxy route table on host-config, with an ETag; a DELETE takes it out', async () => {
    const put = await invoke(
      'hostAdmin',
      restApiEvent({ method: 'PUT', resource: '/v1/hosts/{id}/ports/{port}', pathParameters: { id: environmentId, port: '3000' }, body: { access: 'organization' }, iamArn: ADMIN_ARN }),
    );
    expect(put.statusCode).toBe(200);
    expect(json(put)).toEqual({ port: 3000, access: 'organization', protocol: 'http' });

    const auth = { Authorization: `Bearer ${proxyCredential}` };
    const routes = await invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', query: { host: proxyId }, headers: auth }));
    expect(routes.statusCode).toBe(200);
    expect(json(routes).routes).toEqual([{ hostId: environmentId, ip: expect.stringMatching(/^100\.100\./), owner: OWNER, ports: [{ port: 3000, access: 'organization', protocol: 'http' }] }]);
    const etag = routes.headers.etag;
    expect(etag).toBe(`"${json(routes).version}"`);
    const same = await invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', query: { host: proxyId }, headers: { ...auth, 'If-None-Match': etag } }));
    expect(same.statusCode).toBe(304);

    const removed = await invoke(
      'hostAdmin',
      restApiEvent({ method: 'DELETE', resource: '/v1/hosts/{id}/ports/{port}', pathParameters: { id: environmentId, port: '3000' }, iamArn: ADMIN_ARN }),
    );
    expect(removed.statusCode).toBe(204);
    // Another function changed the routes: the proxy's next request on its old ETag gets the new
    // table (this function's version cache may lag by one poll interval, so the wait only bounds).
    const after = await waitUntil(
      'the route table without the withdrawn port',
      () => invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', query: { host: proxyId, wait: '60' }, headers: { ...auth, 'If-None-Match': etag } })),
      (r) => r.statusCode === 200,
    );
    expect(json(after).routes).toEqual([]);
    // A function never holds a request: with nothing new, `wait=60` is a 304 at once (holding it would outlast the test's timeout).
    const unchanged = await invoke(
      'hostConfig',
      restApiEvent({ method: 'GET', resource: '/v1/routes', query: { host: proxyId, wait: '60' }, headers: { ...auth, 'If-None-Match': after.headers.etag } }),
    );
    expect(unchanged.statusCode).toBe(304);

    // The proxy's delta request: the change host-admin made since the version it holds, and only that.
    const delta = await invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', query: { host: proxyId, since: json(routes).version }, headers: auth }));
    expect(delta.statusCode).toBe(200);
    expect(json(delta)).toEqual({ from: json(routes).version, to: json(after).version, upsert: [], remove: [environmentId] });
    expect(delta.headers.etag).toBe(`"${json(after).version}"`);
    const badSince = await invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', query: { host: proxyId, since: 'latest' }, headers: auth }));
    expect(badSince.statusCode).toBe(400);
    expect(json(badSince).errors).toEqual([expect.objectContaining({ field: 'since' })]);
  });

  it('bad input is a problem naming the field and writes nothing; the route table wants a proxy credential', async () => {
    const before = await itemCount();
    const put = (port: string, body: unknown, iamArn?: string) =>
      invoke('hostAdmin', restApiEvent({ method: 'PUT', resource: '/v1/hosts/{id}/ports/{port}', pathParameters: { id: environmentId, port }, body, iamArn }));

    for (const [port, body, field] of [
      ['70000', { access: 'public' }, 'port'],
      ['080', { access: 'public' }, 'port'],
      ['8080', { access: 'everyone' }, 'access'],
      ['8080', { access: 'public', protocol: 'gopher' }, 'protocol'],
    ] as const) {
      const bad = await put(port, body, ADMIN_ARN);
      expect([port, bad.statusCode, bad.headers['content-type']]).toEqual([port, 400, expect.stringMatching(/^application\/problem\+json/)]);
      expect(json(bad).errors).toEqual([expect.objectContaining({ field })]);
    }
    expect((await put('8080', { access: 'public' })).statusCode).toBe(401);
    const badToken = await invoke('hostAdmin', restApiEvent({ method: 'POST', resource: '/v1/access-tokens', body: { subject: 'bob', organization: 'acme', ttlSeconds: 5 }, iamArn: ADMIN_ARN }));
    expect(badToken.statusCode).toBe(400);
    expect(json(badToken).errors).toEqual([expect.objectContaining({ field: 'ttlSeconds' })]);
    expect(await itemCount()).toBe(before);

    const noHost = await invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', headers: { Authorization: `Bearer ${proxyCredential}` } }));
    expect(noHost.statusCode).toBe(400);
    expect(json(noHost).errors).toEqual([expect.objectContaining({ field: 'host' })]);
    const forged = await invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', query: { host: proxyId }, headers: { Authorization: 'Bearer gwh_forged' } }));
    expect(forged.statusCode).toBe(401);
    // An IAM identity in the event means nothing on this open route: host-config is not IAM-authorized.
    const spoofed = await invoke('hostConfig', restApiEvent({ method: 'GET', resource: '/v1/routes', iamArn: ADMIN_ARN }));
    expect(spoofed.statusCode).toBe(401);
  });

  it('host-admin mints access tokens with the token key (never the CA key); public-api publishes its public key without KMS', async () => {
    const signsBefore = kms.commandCalls(SignCommand).length;
    const minted = await invoke('hostAdmin', restApiEvent({ method: 'POST', resource: '/v1/access-tokens', body: { subject: 'bob', organization: 'acme' }, iamArn: ADMIN_ARN }));
    expect(minted.statusCode).toBe(201);
    const signs = kms.commandCalls(SignCommand).slice(signsBefore).map((c) => c.args[0].input.KeyId);
    expect(signs).toEqual([TOKEN_KEY_ARN]);

    const kmsCallsBefore = kms.calls().length;
    const network = await invoke('publicApi', restApiEvent({ method: 'GET', resource: '/v1/network' }));
    expect(network.statusCode).toBe(200);
    expect(kms.calls().length).toBe(kmsCallsBefore);
    const pem = json(network).accessTokenPublicKey as string;
    expect(pem).toBe(keys[TOKEN_KEY_ARN].publicKey.export({ type: 'spki', format: 'pem' }));
    expect(verifyAccessToken(json(minted).token, loadAccessTokenPublicKey(pem)).principal).toEqual({ subject: 'bob', organization: 'acme' });
  });
});
