import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeleteTableCommand, DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { buildSync } from 'esbuild';
import { serverBundleOptions } from '../../lib/bundles';
import { freePort } from '../../src/server/dynamodb-local';
import { main } from '../../lambda/ecs-server';
import { logger } from '../../lambda/shared/logger';
import { DEFAULT_NETWORK_POLICY } from '../../src/mesh';
import { createCA, generateEd25519KeyPair, LocalSigner } from '../../src/pki';
import { ensureTable, GatewayStore } from '../../src/store';

// The ECS container's entry: the API over src/server's HTTP server with the AWS dependencies from
// the environment, against DynamoDB Local. No request here signs, so no KMS mock is needed; the
// KMS endpoint is the closed port test/support sets, and nothing may reach it.
const TABLE = `ecs-${Date.now().toString(36)}`;
const dynamo = new DynamoDBClient({});

beforeAll(async () => {
  logger.setLogLevel('SILENT');
  await ensureTable(dynamo, TABLE);
  const ca = await createCA({ signer: new LocalSigner(generateEd25519KeyPair().privateKey), name: 'ecs test CA', duration: '24h' });
  await new GatewayStore({ client: dynamo, tableName: TABLE }).initNetwork({
    cidr: '100.100.0.0/16',
    caBundle: ca.toPem(),
    policy: { ...DEFAULT_NETWORK_POLICY },
    createdAt: new Date().toISOString(),
  });
});

afterAll(async () => {
  await dynamo.send(new DeleteTableCommand({ TableName: TABLE }));
  dynamo.destroy();
});

describe('ECS gateway server (lambda/ecs-server.ts)', () => {
  let running: ReturnType<typeof main>;
  let base: string;

  beforeAll(async () => {
    running = main({
      ...process.env,
      PORT: '0',
      HOST: '127.0.0.1',
      TABLE_NAME: TABLE,
      CA_KEY_BACKEND: 'kms',
      CA_KEY_ARN: 'arn:aws:kms:us-east-1:111122223333:key/never-called',
    });
    base = `http://127.0.0.1:${await running.listening}`;
  });

  afterAll(async () => {
    await running?.stop();
  });

  it('serves the API from the table: health, network, refusals as problems', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    const network = await fetch(`${base}/v1/network`);
    expect(network.status).toBe(200);
    expect(await network.json()).toMatchObject({ cidr: '100.100.0.0/16' });
    const admin = await fetch(`${base}/v1/hosts`, { method: 'POST', body: JSON.stringify({ name: 'x', role: 'environment' }) });
    expect(admin.status).toBe(401);
    const enroll = await fetch(`${base}/v1/enroll`, { method: 'POST', body: '{"token":' });
    expect(enroll.status).toBe(400);
    expect(enroll.headers.get('content-type')).toMatch(/^application\/problem\+json/);
  });
});

describe('the container build (the Dockerfile runs `tsx lib/bundles.ts --server`)', () => {
  let dir: string;
  let child: ChildProcess | undefined;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'server-bundle-'));
  });

  afterAll(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child!.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('produces one self-contained file that serves the API and stops on SIGTERM', async () => {
    const outfile = join(dir, 'server.js');
    buildSync(serverBundleOptions(outfile));
    const port = await freePort();
    child = spawn(process.execPath, [outfile], {
      cwd: dir, // no node_modules in reach: the bundle must carry its dependencies, the AWS SDK included
      env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', TABLE_NAME: TABLE, POWERTOOLS_LOG_LEVEL: 'SILENT', NODE_PATH: '' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let health: Response | undefined;
    for (let attempt = 0; attempt < 100 && !health; attempt++) {
      health = await fetch(`http://127.0.0.1:${port}/healthz`).catch(() => undefined);
      if (!health) await new Promise((r) => setTimeout(r, 100));
    }
    expect(health?.status).toBe(200);
    const exited = new Promise<number | null>((r) => child!.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
