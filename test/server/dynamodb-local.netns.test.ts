/**
 * The embedded DynamoDB Local is reachable from this machine's loopback only: from another network
 * namespace, joined to the root namespace by a veth on a bridge (underlay 198.18.0.0/15), a TCP
 * connect to its port on the root namespace's address is refused, while a listener on every
 * interface (the control) is reachable the same way. Started by `startDynamoDbLocal`, as
 * `gateway serve` starts it; the test run's own (globalSetup) is checked the same way.
 * The namespace tests need root and `ip`.
 */
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { spawnSync } from 'node:child_process';
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:net';
import { type DynamoDbLocal, startDynamoDbLocal } from '../../src/server/dynamodb-local';
import { type Namespace, nsExec, Underlay } from '../e2e/harness/netns';
import { dynamoDbEndpoint } from '../support/dynamodb';
import { describeNeeding } from '../support/prerequisites';

/** What a TCP connect from `ns` to host:port ends with: `connected`, or the error code (ECONNREFUSED…). */
function connectFrom(ns: Namespace, host: string, port: number): string {
  const script = `const s=require('net').connect(${port},'${host}');s.setTimeout(5000,()=>{console.log('ETIMEDOUT');process.exit(0)});s.on('connect',()=>{console.log('connected');process.exit(0)});s.on('error',e=>{console.log(e.code);process.exit(0)});`;
  return nsExec(ns, process.execPath, ['-e', script]).trim();
}

describeNeeding(['root', 'ip'])('DynamoDB Local listens on loopback only', () => {
  let underlay: Underlay;
  let outside: Namespace;
  let ddb: DynamoDbLocal;
  let control: Server;
  let controlPort: number;

  beforeAll(async () => {
    underlay = Underlay.create();
    outside = underlay.addNamespace('ddb');
    ddb = await startDynamoDbLocal();
    control = createServer((socket) => socket.end());
    await new Promise<void>((done) => control.listen(0, '0.0.0.0', done));
    controlPort = (control.address() as { port: number }).port;
  }, 120_000);

  afterAll(async () => {
    await new Promise<void>((done) => (control ? control.close(() => done()) : done()));
    await ddb?.stop();
    underlay?.destroy();
  });

  test('a listener on every interface is reachable from the namespace (the path works)', () => {
    expect(connectFrom(outside, underlay.bridgeIp, controlPort)).toBe('connected');
  });

  test("a connect to DynamoDB Local's port on the root namespace's address is refused", () => {
    expect(connectFrom(outside, underlay.bridgeIp, ddb.port)).toBe('ECONNREFUSED');
  });

  test("the test run's DynamoDB Local (globalSetup) is refused the same way", () => {
    const port = Number(new URL(dynamoDbEndpoint()).port);
    expect(connectFrom(outside, underlay.bridgeIp, port)).toBe('ECONNREFUSED');
  });

  test('it runs with telemetry off', () => {
    const ps = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
    const command = ps.split('\n').find((line) => line.includes('dynamodb-local-loopback.java') && line.includes(`-port ${ddb.port} `));
    expect(command).toMatch(/ -disableTelemetry( |$)/);
  });

  test('on loopback it answers the SDK', async () => {
    const client = new DynamoDBClient({ endpoint: ddb.endpoint });
    try {
      const tables = await client.send(new ListTablesCommand({}));
      expect(tables.TableNames).toEqual([]);
    } finally {
      client.destroy();
    }
  });
});

describe("DynamoDB Local (the test run's) refuses what a web page could send", () => {
  const endpoint = dynamoDbEndpoint();
  const port = Number(new URL(endpoint).port);
  const listTables = { 'x-amz-target': 'DynamoDB_20120810.ListTables', 'content-type': 'application/x-amz-json-1.0', authorization: 'AWS4-HMAC-SHA256 Credential=originprobe/20260101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=00' };

  // DynamoDB Local keeps one database per access key: this key's is empty whatever other suites created.
  test('a plain loopback request is served (the baseline)', async () => {
    const res = await fetch(endpoint, { method: 'POST', headers: listTables, body: '{}' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ TableNames: [] });
  });

  test('a request with an Origin (a browser page, cross-site or rebound) is 403', async () => {
    const res = await fetch(endpoint, { method: 'POST', headers: { ...listTables, origin: 'https://evil.example' }, body: '{}' });
    expect(res.status).toBe(403);
    expect(await res.text()).not.toContain('TableNames');
  });

  test('a Host other than loopback (DNS rebinding) is 403', async () => {
    const status = await new Promise<number>((done, fail) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { ...listTables, host: `rebind.example:${port}` } }, (res) => {
        res.resume();
        done(res.statusCode ?? 0);
      });
      req.on('error', fail);
      req.end('{}');
    });
    expect(status).toBe(403);
  });
});

describe('DynamoDB Local on a Java without the compiler module', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-fake-java-'));
  });
  afterAll(async () => rm(dir, { recursive: true, force: true }));

  test('fails with advice (a JDK, or --dynamodb-endpoint) instead of listening anywhere', async () => {
    // Stands in for a JRE without jdk.compiler (a jlink image of java.base and friends prints this).
    const java = join(dir, 'java');
    await writeFile(java, '#!/bin/sh\necho "Exception in thread \\"main\\" java.lang.InternalError: Module jdk.compiler not in boot Layer" >&2\nexit 1\n');
    await chmod(java, 0o755);
    await expect(startDynamoDbLocal({ java, startTimeoutMs: 20_000 })).rejects.toThrow(/jdk\.compiler[\s\S]*needs a JDK[\s\S]*--dynamodb-endpoint/);
  });
});
