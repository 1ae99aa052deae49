import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { gatewayCli } from '../support/cli';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

// `gateway hosts|ports|tokens` end to end. Token mode: against a real local gateway (DynamoDB
// Local). IAM mode: against a loopback stand-in for API Gateway that recomputes each request's
// SigV4 signature with the SDK's own signer and the same fake credentials, refuses a mismatch as
// API Gateway does, and passes verified requests (stage path stripped) to the local gateway. Every
// URL is loopback; the fake credentials come from the environment, as the credential chain reads them.

const FAKE = { accessKeyId: 'AKIDEXAMPLEADMINCLI01', secretAccessKey: 'fake/Secret+Key/For/Signing/Tests/0000000', sessionToken: 'FakeSessionTokenForTests//+==' };
const REGION = 'eu-west-3';

let gw: TestGateway;
let dir: string;
let tokenFile: string;

beforeAll(async () => {
  gw = await startTestGateway();
  dir = await mkdtemp(join(tmpdir(), 'gw-admin-cli-'));
  tokenFile = join(dir, 'admin-token');
  await writeFile(tokenFile, `${gw.adminToken}\n`, { mode: 0o600 });
});

afterAll(async () => {
  await gw?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('token mode against a local gateway', () => {
  const run = gatewayCli();
  const local = () => ['--api', gw.url, '--token-file', tokenFile];
  const hostCount = async () => JSON.parse((await run('hosts', 'list', ...local(), '--json')).stdout).hosts.length as number;

  test('hosts create prints the host, its enrollment token and the bootstrap command; the token enrolls', async () => {
    const created = await run('hosts', 'create', ...local(), '--name', 'dev1', '--role', 'environment', '--owner', 'alice@example.com@acme', '--groups', 'web,db');
    expect(created).toMatchObject({ status: 0, stderr: '' });
    const token = /gwe_\S+/.exec(created.stdout)?.[0] as string;
    const id = /created host (h-\S+) \(dev1, environment\)/.exec(created.stdout)?.[1] as string;
    expect(created.stdout).toContain(`\n  ${token}\n`);
    expect(created.stdout).toContain(`curl -fsSL ${gw.url}/v1/bootstrap | sudo sh -s -- --token-file ~/enroll-token && rm ~/enroll-token\n`);
    // Printed once, on its own line: never inside the command, which would put it in ps on the host.
    expect(created.stdout.split(token).length).toBe(2);
    const enroll = apiClient(gw.url);
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    expect((await enroll('POST', '/v1/enroll', { body: { token, publicKey } })).status).toBe(200);

    const shown = JSON.parse((await run('hosts', 'show', id, ...local(), '--json')).stdout).host;
    expect(shown).toMatchObject({ id, name: 'dev1', role: 'environment', status: 'active', owner: { subject: 'alice@example.com', organization: 'acme' }, groups: ['web', 'db'] });
    const text = await run('hosts', 'show', id, ...local());
    expect(text.stdout).toMatch(new RegExp(`^id: +${id}\\n`));
    expect(text.stdout).toMatch(/\nowner: +alice@example.com@acme\n/);
  });

  test('--json gives the API answer; hosts list filters by role; GATEWAY_ADMIN_TOKEN works without a flag', async () => {
    const json = await run('hosts', 'create', ...local(), '--name', 'lh1', '--role', 'lighthouse', '--endpoints', '203.0.113.10:4242', '--json');
    expect(json.status).toBe(0);
    const created = JSON.parse(json.stdout);
    expect(created).toMatchObject({ host: { name: 'lh1', role: 'lighthouse', endpoints: ['203.0.113.10:4242'] }, enrollment: { token: expect.stringMatching(/^gwe_/) } });
    const fromEnv = gatewayCli({ GATEWAY_ADMIN_TOKEN: gw.adminToken });
    const lighthouses = await fromEnv('hosts', 'list', '--api', gw.url, '--role', 'lighthouse');
    expect(lighthouses.status).toBe(0);
    const lines = lighthouses.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^ID +NAME +ROLE +STATUS +IP +OWNER/);
    expect(lines.slice(1).map((l) => l.split(/ +/).slice(0, 3))).toEqual([[created.host.id, 'lh1', 'lighthouse']]);
    expect(lines[1]).toContain('203.0.113.10:4242');
  });

  test('hosts set-owner changes who owns an environment; a lighthouse has no owner; the flag is required', async () => {
    const id = JSON.parse((await run('hosts', 'create', ...local(), '--name', 'dev-owner', '--role', 'environment', '--owner', 'alice@acme', '--json')).stdout).host.id;
    expect(await run('hosts', 'set-owner', id, ...local(), '--owner', 'carol@globex')).toMatchObject({ status: 0, stdout: `host ${id} (dev-owner) is owned by carol@globex\n` });
    expect(JSON.parse((await run('hosts', 'show', id, ...local(), '--json')).stdout).host.owner).toEqual({ subject: 'carol', organization: 'globex' });
    const missing = await run('hosts', 'set-owner', id, ...local());
    expect(missing).toMatchObject({ status: 2 });
    expect(missing.stderr).toContain('--owner');
    const lh = JSON.parse((await run('hosts', 'create', ...local(), '--name', 'lh-owner', '--role', 'lighthouse', '--endpoints', '203.0.113.20:4242', '--json')).stdout).host.id;
    const refused = await run('hosts', 'set-owner', lh, ...local(), '--owner', 'a@b');
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('400');
    expect(JSON.parse((await run('hosts', 'show', lh, ...local(), '--json')).stdout).host.owner).toBeUndefined();
  });

  test('ports set and delete, tokens create, hosts delete (twice)', async () => {
    const id = JSON.parse((await run('hosts', 'create', ...local(), '--name', 'dev2', '--role', 'environment', '--owner-subject', 'bob', '--owner-org', 'acme', '--json')).stdout).host.id;
    expect(await run('ports', 'set', id, '3000', ...local(), '--access', 'organization')).toMatchObject({ status: 0, stdout: `host ${id} port 3000: organization, upstream http\n` });
    expect((await run('ports', 'set', id, '8443', ...local(), '--access', 'public', '--protocol', 'https')).status).toBe(0);
    expect((await run('ports', 'delete', id, '3000', ...local())).stdout).toBe(`host ${id} port 3000: withdrawn\n`);
    expect(JSON.parse((await run('hosts', 'show', id, ...local(), '--json')).stdout).host.ports).toEqual([{ port: 8443, access: 'public', protocol: 'https' }]);

    const before = Date.now();
    const minted = JSON.parse((await run('tokens', 'create', ...local(), '--subject', 'bob', '--organization', 'acme', '--ttl', '30m', '--json')).stdout);
    expect(minted.token).toEqual(expect.any(String));
    const expiresAt = Date.parse(minted.expiresAt);
    expect(expiresAt).toBeGreaterThanOrEqual(before + 30 * 60_000 - 1000);
    expect(expiresAt).toBeLessThanOrEqual(Date.now() + 30 * 60_000 + 1000);

    const revoked = await run('hosts', 'delete', id, ...local());
    expect(revoked.stdout).toMatch(new RegExp(`^revoked host ${id} \\(dev2, environment\\) at \\d{4}-`));
    expect((await run('hosts', 'delete', id, ...local())).status).toBe(0);
    expect(JSON.parse((await run('hosts', 'show', id, ...local(), '--json')).stdout).host.status).toBe('revoked');
  });

  test("the API's refusals are shown readably, with the flag of each failing field, and write nothing", async () => {
    const count = await hostCount();
    const badName = await run('hosts', 'create', ...local(), '--name', 'bad name', '--role', 'environment');
    expect(badName.status).toBe(1);
    expect(badName.stderr).toContain('gateway hosts create: the gateway refused: 400');
    expect(badName.stderr).toMatch(/\n {2}name \(--name\): must be 1-63 characters/);
    const badEndpoint = await run('hosts', 'create', ...local(), '--name', 'lh9', '--role', 'lighthouse', '--endpoints', '203.0.113.1:4242,nope');
    expect(badEndpoint.stderr).toMatch(/\n {2}endpoints\[1\] \(--endpoints\): /);
    const ownerOnProxy = await run('hosts', 'create', ...local(), '--name', 'px', '--role', 'proxy', '--owner', 'a@b');
    expect(ownerOnProxy.stderr).toMatch(/owner \(--owner\): only environments have an owner/);
    const longTtl = await run('tokens', 'create', ...local(), '--subject', 's', '--organization', 'o', '--ttl', '10s');
    expect(longTtl.stderr).toMatch(/ttlSeconds \(--ttl\): /);
    expect(await hostCount()).toBe(count);

    const missing = await run('hosts', 'show', 'h-doesnotexist', ...local());
    expect(missing).toMatchObject({ status: 1, stderr: 'gateway hosts show: the gateway refused: 404 Not found: no host h-doesnotexist\n' });
  });

  test('a wrong admin token is refused (401) and never echoed', async () => {
    const wrong = join(dir, 'wrong-token');
    const secret = 'gwa_thisIsNotTheAdminTokenButLooksLikeOne';
    await writeFile(wrong, secret);
    const refused = await run('hosts', 'list', '--api', gw.url, '--token-file', wrong);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('401');
    expect(refused.stderr + refused.stdout).not.toContain(secret);
  });

  test('an API that does not answer is reported with the URL and the cause', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const result = await run('hosts', 'list', '--api', `http://127.0.0.1:${port}/api`, '--token-file', tokenFile);
    expect(result).toMatchObject({ status: 1, stderr: `gateway hosts list: GET http://127.0.0.1:${port}/api/v1/hosts: ECONNREFUSED\n` });
  });

  test('bad flags are named, exit 2 and send nothing', async () => {
    const count = await hostCount();
    const notAToken = join(dir, 'not-a-token');
    await writeFile(notAToken, 'hunter2-secret');
    const cases: [string[], string, NodeJS.ProcessEnv?][] = [
      [['hosts', 'list', '--token-file', tokenFile], 'flag --api is required'],
      [['hosts', 'list', '--api', 'not a url', '--token-file', tokenFile], "flag --api: 'not a url' is not a URL"],
      [['hosts', 'list', '--api', 'http://gateway.example.com:8080', '--token-file', tokenFile], 'flag --api: plain http is only for a gateway on this machine'],
      [['hosts', 'list', '--api', `${gw.url}?x=1`, '--token-file', tokenFile], 'flag --api: must not have a query or fragment'],
      [['hosts', 'list', '--api', gw.url], 'say how to authenticate: --iam (AWS credentials, a deployed gateway) or --token-file FILE'],
      [['hosts', 'list', '--api', gw.url, '--iam', '--token-file', tokenFile], 'flags --iam and --token-file exclude each other'],
      [['hosts', 'list', '--api', gw.url, '--token-file', tokenFile, '--region', REGION], 'flag --region applies only with --iam'],
      [['hosts', 'list', '--api', gw.url, '--token-file', join(dir, 'absent')], `flag --token-file: cannot read ${join(dir, 'absent')}: ENOENT`],
      [['hosts', 'list', '--api', gw.url, '--token-file', notAToken], `flag --token-file: ${notAToken} does not hold an admin token (gwa_…)`],
      [['hosts', 'list', '--api', gw.url], 'GATEWAY_ADMIN_TOKEN does not hold an admin token', { GATEWAY_ADMIN_TOKEN: 'hunter2-secret' }],
      [['hosts', 'list', '--api', gw.url, '--token-file', tokenFile, '--role', 'admin'], "flag --role must be environment, lighthouse, proxy, egress; not 'admin'"],
      [['hosts', 'create', '--api', gw.url, '--token-file', tokenFile, '--role', 'environment'], 'flag --name is required'],
      [['hosts', 'create', '--api', gw.url, '--token-file', tokenFile, '--name', 'x', '--role', 'environment', '--owner', 'alice'], "flag --owner must be SUBJECT@ORGANIZATION, not 'alice'"],
      [['hosts', 'create', '--api', gw.url, '--token-file', tokenFile, '--name', 'x', '--role', 'environment', '--owner', 'a@b', '--owner-org', 'c'], 'flag --owner excludes --owner-subject and --owner-org'],
      [['hosts', 'create', '--api', gw.url, '--token-file', tokenFile, '--name', 'x', '--role', 'environment', '--owner-subject', 'a'], 'flag --owner-org is required'],
      [['hosts', 'show', '--api', gw.url, '--token-file', tokenFile], 'missing argument ID'],
      [['hosts', 'show', 'h-1', 'h-2', '--api', gw.url, '--token-file', tokenFile], "unexpected argument 'h-2'"],
      [['hosts', 'delete', '..', '--api', gw.url, '--token-file', tokenFile], "argument ID: '..' is not a host id"],
      [['ports', 'set', 'h-1', '70000', '--api', gw.url, '--token-file', tokenFile, '--access', 'public'], "argument PORT must be a TCP port from 1 to 65535, not '70000'"],
      [['ports', 'set', 'h-1', '3000', '--api', gw.url, '--token-file', tokenFile], 'flag --access is required'],
      [['ports', 'set', 'h-1', '3000', '--api', gw.url, '--token-file', tokenFile, '--access', 'everyone'], "flag --access must be private, organization, public; not 'everyone'"],
      [['ports', 'set', 'h-1', '3000', '--api', gw.url, '--token-file', tokenFile, '--access', 'public', '--protocol', 'ftp'], "flag --protocol must be http, https; not 'ftp'"],
      [['ports', 'delete', 'h-1', '--api', gw.url, '--token-file', tokenFile], 'missing argument PORT'],
      [['tokens', 'create', '--api', gw.url, '--token-file', tokenFile, '--subject', 's', '--organization', 'o', '--ttl', 'forever'], "flag --ttl must be a duration such as 1h, 30m or 1h30m, not 'forever'"],
      [['tokens', 'create', '--api', gw.url, '--token-file', tokenFile, '--subject', 's', '--organization', 'o', '--ttl=-1h'], "flag --ttl must be a positive whole number of seconds, not '-1h'"],
      [['tokens', 'create', '--api', gw.url, '--token-file', tokenFile, '--subject', 's'], 'flag --organization is required'],
    ];
    for (const [argv, message, env] of cases) {
      const result = await gatewayCli(env)(...argv);
      expect({ argv, status: result.status, stdout: result.stdout }).toEqual({ argv, status: 2, stdout: '' });
      expect(result.stderr).toContain(message);
      expect(result.stderr).not.toContain('hunter2-secret');
    }
    expect(await hostCount()).toBe(count);
  });
});

/** What the stand-in for API Gateway saw of one request. */
interface Seen {
  method: string;
  path: string;
  verified: boolean;
  credential: string;
  signedHeaders: string[];
  securityToken?: string;
}

/**
 * A loopback stand-in for API Gateway with IAM authorization: recomputes the signature of each
 * request with the SDK's SignatureV4 over the headers the request says it signed, answers 403 like
 * API Gateway when it differs, otherwise strips the stage and forwards to the local gateway with the
 * admin token (as API Gateway forwards to the host-admin function once IAM allowed the caller).
 */
async function startSigV4Gateway(target: TestGateway, stage: string): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const verifier = new SignatureV4({ service: 'execute-api', region: REGION, credentials: FAKE, sha256: Hash.bind(null, 'sha256') });
  const server: Server = createServer(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? '/', 'http://placeholder');
    const authorization = String(req.headers.authorization ?? '');
    const match = /^AWS4-HMAC-SHA256 Credential=(\S+), SignedHeaders=(\S+), Signature=([0-9a-f]{64})$/.exec(authorization);
    const signedHeaders = match ? match[2].split(';') : [];
    const headers = Object.fromEntries(signedHeaders.map((h) => [h, String(req.headers[h] ?? '')]));
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const signingDate = new Date(amzDate.replace(/^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/, '$1-$2-$3T$4:$5:$6Z'));
    let verified = false;
    if (match && !Number.isNaN(signingDate.getTime())) {
      const [hostname, port] = String(req.headers.host).split(':');
      const expected = await verifier.sign(
        new HttpRequest({ method: req.method, protocol: 'http:', hostname, port: Number(port), path: url.pathname, query: Object.fromEntries(url.searchParams), headers, body: body.length > 0 ? body.toString('utf8') : undefined }),
        { signingDate },
      );
      verified = expected.headers.authorization === authorization;
    }
    seen.push({
      method: req.method ?? '',
      path: `${url.pathname}${url.search}`,
      verified,
      credential: match?.[1] ?? '',
      signedHeaders,
      ...(req.headers['x-amz-security-token'] ? { securityToken: String(req.headers['x-amz-security-token']) } : {}),
    });
    if (!verified) {
      res.writeHead(403, { 'content-type': 'application/json', 'x-amzn-errortype': 'InvalidSignatureException' });
      res.end(JSON.stringify({ message: `The request signature we calculated does not match the signature you provided.\n\nThe Canonical String for this request should have been\n'${req.method}\n${url.pathname}\n...x-amz-security-token:${FAKE.sessionToken}'` }));
      return;
    }
    const forwarded = await fetch(`${target.url}${url.pathname.slice(stage.length)}${url.search}`, {
      method: req.method,
      headers: { authorization: `Bearer ${target.adminToken}`, ...(req.headers['content-type'] ? { 'content-type': String(req.headers['content-type']) } : {}) },
      body: body.length > 0 ? body : undefined,
    });
    res.writeHead(forwarded.status, { 'content-type': forwarded.headers.get('content-type') ?? 'application/json' });
    res.end(Buffer.from(await forwarded.arrayBuffer()));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${stage}`,
    seen,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

describe('IAM mode: SigV4 from the credential chain, verified by a loopback stand-in for API Gateway', () => {
  let apigw: Awaited<ReturnType<typeof startSigV4Gateway>>;
  const saved = { ...process.env };
  const run = gatewayCli();

  beforeAll(async () => {
    apigw = await startSigV4Gateway(gw, '/api');
  });

  beforeEach(() => {
    // The credential chain's first provider reads these, as it would on an engineer's machine.
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: FAKE.accessKeyId, AWS_SECRET_ACCESS_KEY: FAKE.secretAccessKey, AWS_SESSION_TOKEN: FAKE.sessionToken });
    apigw.seen.length = 0;
  });

  afterAll(async () => {
    for (const key of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN']) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
    await apigw?.close();
  });

  const secretsIn = (text: string) => [FAKE.secretAccessKey, FAKE.sessionToken].filter((s) => text.includes(s));

  test('hosts create and list are signed for execute-api in the --region given, with the session token', async () => {
    const created = await run('hosts', 'create', '--api', apigw.url, '--iam', '--region', REGION, '--name', 'via-iam', '--role', 'environment', '--owner', 'carol@acme');
    expect(created.status).toBe(0);
    expect(created.stdout).toMatch(/created host h-\S+ \(via-iam, environment\)/);
    expect(created.stdout).toContain(`curl -fsSL ${apigw.url.replace(/\/+$/, '')}/v1/bootstrap | sudo sh -s -- --token-file ~/enroll-token`);
    const listed = await run('hosts', 'list', '--api', apigw.url, '--iam', '--region', REGION, '--role', 'environment', '--json');
    expect(JSON.parse(listed.stdout).hosts.map((h: { name: string }) => h.name)).toContain('via-iam');

    expect(apigw.seen.map(({ method, path, verified }) => ({ method, path, verified }))).toEqual([
      { method: 'POST', path: '/api/v1/hosts', verified: true },
      { method: 'GET', path: '/api/v1/hosts?role=environment', verified: true },
    ]);
    for (const request of apigw.seen) {
      expect(request.credential).toMatch(new RegExp(`^${FAKE.accessKeyId}/\\d{8}/${REGION}/execute-api/aws4_request$`));
      expect(request.signedHeaders).toEqual(expect.arrayContaining(['host', 'x-amz-date', 'x-amz-security-token']));
      expect(request.securityToken).toBe(FAKE.sessionToken);
    }
    expect(apigw.seen[0].signedHeaders).toContain('content-type');
    expect(secretsIn(created.stdout + created.stderr + listed.stdout + listed.stderr)).toEqual([]);
  });

  test('ports, tokens and revocation work signed too; the region can come from AWS_REGION', async () => {
    const withEnvRegion = gatewayCli({ AWS_REGION: REGION });
    const id = JSON.parse((await withEnvRegion('hosts', 'create', '--api', apigw.url, '--iam', '--name', 'env2', '--role', 'environment', '--owner', 'dave@acme', '--json')).stdout).host.id;
    expect(await withEnvRegion('ports', 'set', id, '3000', '--api', apigw.url, '--iam', '--access', 'private')).toMatchObject({ status: 0, stderr: '' });
    expect((await withEnvRegion('ports', 'delete', id, '3000', '--api', apigw.url, '--iam')).status).toBe(0);
    expect((await withEnvRegion('tokens', 'create', '--api', apigw.url, '--iam', '--subject', 's', '--organization', 'o')).stdout).toMatch(/^access token for s@o/);
    expect((await withEnvRegion('hosts', 'delete', id, '--api', apigw.url, '--iam')).status).toBe(0);
    expect((await withEnvRegion('hosts', 'show', id, '--api', apigw.url, '--iam')).stdout).toMatch(/\nstatus: +revoked\n/);
    expect(apigw.seen.map((s) => `${s.method} ${s.path} ${s.verified}`)).toEqual([
      'POST /api/v1/hosts true',
      `PUT /api/v1/hosts/${id}/ports/3000 true`,
      `DELETE /api/v1/hosts/${id}/ports/3000 true`,
      'POST /api/v1/access-tokens true',
      `DELETE /api/v1/hosts/${id} true`,
      `GET /api/v1/hosts/${id} true`,
    ]);
  });

  test('a request signed for another region fails verification; the refusal is shown without the echoed signed headers', async () => {
    const wrong = await run('hosts', 'list', '--api', apigw.url, '--iam', '--region', 'us-west-2');
    expect(apigw.seen.map((s) => s.verified)).toEqual([false]);
    expect(wrong).toMatchObject({
      status: 1,
      stderr: 'gateway hosts list: the gateway refused: 403 Forbidden: The request signature we calculated does not match the signature you provided.\n',
    });
    expect(secretsIn(wrong.stderr)).toEqual([]);
  });

  test('the region is required when neither the URL nor AWS_REGION gives it; a contradicting --region is refused; nothing is sent', async () => {
    const noRegion = await run('hosts', 'list', '--api', apigw.url, '--iam');
    expect(noRegion.status).toBe(2);
    expect(noRegion.stderr).toContain('flag --region is needed');
    const contradicting = await run('hosts', 'list', '--api', 'https://a1b2c3d4e5.execute-api.eu-west-1.amazonaws.com/api', '--iam', '--region', REGION);
    expect(contradicting.status).toBe(2);
    expect(contradicting.stderr).toContain(`flag --region ${REGION} does not match the region of the --api host, eu-west-1`);
    const badRegion = await run('hosts', 'list', '--api', apigw.url, '--iam', '--region', 'mars');
    expect(badRegion.stderr).toContain("flag --region must be an AWS region such as eu-west-1, not 'mars'");
    expect(apigw.seen).toEqual([]);
  });

  test('without credentials the command says so and sends nothing', async () => {
    delete process.env.AWS_ACCESS_KEY_ID;
    delete process.env.AWS_SECRET_ACCESS_KEY;
    delete process.env.AWS_SESSION_TOKEN;
    const home = await mkdtemp(join(tmpdir(), 'gw-no-aws-'));
    const files = { AWS_CONFIG_FILE: process.env.AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE: process.env.AWS_SHARED_CREDENTIALS_FILE };
    // No shared config either: the chain must find nothing on this machine (instance metadata is disabled by the test environment).
    Object.assign(process.env, { AWS_CONFIG_FILE: join(home, 'config'), AWS_SHARED_CREDENTIALS_FILE: join(home, 'credentials') });
    try {
      const result = await run('hosts', 'list', '--api', apigw.url, '--iam', '--region', REGION);
      expect(result.status).toBe(1);
      expect(result.stderr).toMatch(/^gateway hosts list: cannot sign the request with AWS credentials: /);
      expect(apigw.seen).toEqual([]);
    } finally {
      for (const [key, value] of Object.entries(files)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
      await rm(home, { recursive: true, force: true });
    }
  });
});

test('the README documents every admin command', () => {
  const readme = readFileSync(join(__dirname, '../../README.md'), 'utf8');
  for (const command of ['hosts create', 'hosts list', 'hosts show', 'hosts set-owner', 'hosts delete', 'ports set', 'ports delete', 'tokens create']) {
    expect(readme).toContain(`gateway ${command}`);
  }
});
