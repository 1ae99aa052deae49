/**
 * A change written by one gateway process reaches watchers on another (issue 11): two
 * `gateway serve` processes (bin/gateway.js, as an operator or the ECS task runs it) on one
 * DynamoDB Local table; a revocation through one, or through the Lambda host-admin handler,
 * wakes a long-poll held by the other, which gets the new blocklist. The 30 s wait of the
 * long-poll only bounds the test. The Lambda host-config handler answers at once whatever ?wait=.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { encodeX25519PublicKeyPem, generateX25519KeyPair, NebulaCertificate } from '../../src/pki';
import type { RestApiEvent, RestApiResult } from '../../lambda/shared/apigw';
import { restApiEvent } from '../lambda/support/events';
import { dropTable, dynamoDbEndpoint, testDynamoClient, uniqueTableName } from '../support/dynamodb';
import { apiClient } from '../support/gateway';
import { waitUntil } from '../support/wait';

const GATEWAY = resolve(__dirname, '../../bin/gateway.js');
const DELTA = 'application/vnd.nebula-gateway.config-delta+json';
const ADMIN_ROLE = 'arn:aws:iam::111122223333:role/Ops';

type Handler = (event: RestApiEvent) => Promise<RestApiResult>;

/** A cold start of a Lambda entry point on `table`, as the stack configures it. */
function lambda(entry: 'host-admin' | 'host-config', table: string, watchUrl: string): Handler {
  Object.assign(process.env, { TABLE_NAME: table, CERT_LIFETIME_HOURS: '24', GATEWAY_ADMIN_ROLE_ARNS: ADMIN_ROLE, GATEWAY_WATCH_URL: watchUrl });
  let handler: Handler | undefined;
  jest.isolateModules(() => {
    handler = (require(`../../lambda/${entry}`) as { handler: Handler }).handler;
  });
  return handler as Handler;
}

interface ServeProcess {
  child: ChildProcess;
  url: string;
  output: () => string;
}

async function serve(dataDir: string, table: string, adminToken: string): Promise<ServeProcess> {
  const child = spawn(process.execPath, [GATEWAY, 'serve', '--port', '0', '--data-dir', dataDir, '--table', table, '--dynamodb-endpoint', dynamoDbEndpoint()], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, GATEWAY_ADMIN_TOKEN: adminToken },
  });
  let output = '';
  child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
  const url = await waitUntil('gateway serve to say where it listens (its output)', () => /listening on (http:\/\/\S+)/.exec(output)?.[1] ?? output, (v) => v.startsWith('http://'), {
    timeoutMs: 60_000,
    intervalMs: 100,
  });
  return { child, url, output: () => output };
}

describe('changes reach watchers on every gateway process', () => {
  const table = uniqueTableName('gw-two');
  const dataDir = mkdtempSync(join(tmpdir(), 'gw-two-'));
  const adminToken = `gwa_${'t'.repeat(32)}`;
  const processes: ServeProcess[] = [];

  afterAll(async () => {
    for (const name of ['TABLE_NAME', 'CERT_LIFETIME_HOURS', 'GATEWAY_ADMIN_ROLE_ARNS', 'GATEWAY_WATCH_URL']) delete process.env[name];
    for (const p of processes) {
      p.child.kill('SIGTERM');
      await new Promise((done) => (p.child.exitCode === null ? p.child.once('exit', done) : done(null)));
    }
    const client = testDynamoClient();
    await dropTable(client, table);
    client.destroy();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('a DELETE through one process wakes a watcher held by the other, which gets the new blocklist', async () => {
    processes.push(await serve(dataDir, table, adminToken));
    processes.push(await serve(dataDir, table, adminToken));
    const [one, two] = processes.map((p) => apiClient(p.url));
    const enroll = async (name: string) => {
      const created = await one('POST', '/v1/hosts', { token: adminToken, body: { name, role: 'environment' } });
      expect(created.status).toBe(201);
      const res = await one('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
      return { id: created.body.host.id as string, credential: res.body.credential as string, fingerprint: NebulaCertificate.fromPem(res.body.certificate).fingerprint() };
    };
    const watcher = await enroll('watcher');
    const victim = await enroll('victim');

    const first = await two('GET', `/v1/hosts/${watcher.id}/config`, { token: watcher.credential });
    expect(first.body.watchUrl).toBe(processes[1].url);
    const held = two('GET', `/v1/hosts/${watcher.id}/config?wait=30`, {
      token: watcher.credential,
      headers: { accept: DELTA, 'if-none-match': first.headers.get('etag')! },
    });
    const revoked = await one('DELETE', `/v1/hosts/${victim.id}`, { token: adminToken });
    expect(revoked.status).toBeLessThan(300);
    const answer = await held;
    expect(answer.status).toBe(200);
    expect(answer.headers.get('content-type')).toBe(DELTA);
    expect(answer.body.blocklist).toEqual({ add: [victim.fingerprint], remove: [] });

    // The whole config from the other process agrees.
    const whole = await two('GET', `/v1/hosts/${watcher.id}/config`, { token: watcher.credential });
    expect(whole.headers.get('etag')).toBe(answer.body.to);
  });

  it('a revocation by the Lambda host-admin function wakes the watcher on a server; the Lambda config read answers at once', async () => {
    const [one, two] = processes.map((p) => apiClient(p.url));
    const enroll = async (name: string) => {
      const created = await one('POST', '/v1/hosts', { token: adminToken, body: { name, role: 'environment' } });
      const res = await one('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
      return { id: created.body.host.id as string, credential: res.body.credential as string, fingerprint: NebulaCertificate.fromPem(res.body.certificate).fingerprint() };
    };
    const watcher = await enroll('watcher-2');
    const victim = await enroll('victim-2');
    const first = await two('GET', `/v1/hosts/${watcher.id}/config`, { token: watcher.credential });
    const held = two('GET', `/v1/hosts/${watcher.id}/config?wait=30`, { token: watcher.credential, headers: { accept: DELTA, 'if-none-match': first.headers.get('etag')! } });

    // Configured as the stack configures it: the functions name the server as the watch URL.
    const watchUrl = processes[1].url;
    const revoked = await lambda('host-admin', table, watchUrl)(
      restApiEvent({ method: 'DELETE', resource: '/v1/hosts/{id}', pathParameters: { id: victim.id }, iamArn: 'arn:aws:sts::111122223333:assumed-role/Ops/alice' }),
    );
    expect(revoked.statusCode).toBeLessThan(300);
    const answer = await held;
    expect(answer.headers.get('content-type')).toBe(DELTA);
    expect(answer.body.blocklist).toEqual({ add: [victim.fingerprint], remove: [] });

    const config = lambda('host-config', table, watchUrl);
    const headers = { Authorization: `Bearer ${watcher.credential}`, 'If-None-Match': answer.body.to };
    const notModified = await config(restApiEvent({ method: 'GET', resource: '/v1/hosts/{id}/config', pathParameters: { id: watcher.id }, query: { wait: '60' }, headers }));
    expect(notModified.statusCode).toBe(304);
    const whole = await config(restApiEvent({ method: 'GET', resource: '/v1/hosts/{id}/config', pathParameters: { id: watcher.id }, headers: { Authorization: `Bearer ${watcher.credential}` } }));
    expect(whole.statusCode).toBe(200);
    expect(JSON.parse(whole.body).watchUrl).toBe(watchUrl);
    expect(whole.headers.etag).toBe(answer.body.to);
  });
});
