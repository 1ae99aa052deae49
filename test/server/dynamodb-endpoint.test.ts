/**
 * `gateway serve --dynamodb-endpoint URL` as a real process whose environment has no AWS_*
 * variable and a HOME without ~/.aws: it starts, and its data lands under the local-only region and
 * credentials (DynamoDB Local keeps one database per access key and region, which makes that
 * observable). With the user's own region and keys, those are used instead, never overridden.
 */
import { DynamoDBClient, ListTablesCommand } from '@aws-sdk/client-dynamodb';
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/main';
import { freePort } from '../../src/server';
import { dropTable, dynamoDbEndpoint, uniqueTableName } from '../support/dynamodb';
import { apiClient } from '../support/gateway';

const repo = resolve(__dirname, '../..');

/** process.env without any AWS_* variable (setup-env.ts sets several), HOME pointing at `home`. */
function envWithoutAws(home: string, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith('AWS_') && key !== 'GATEWAY_ADMIN_TOKEN') env[key] = value;
  return { ...env, HOME: home, ...extra };
}

function waitForListening(child: ChildProcess, output: () => string, timeoutMs: number): Promise<string> {
  return new Promise((done, fail) => {
    const timer = setTimeout(() => fail(new Error(`gateway serve did not listen within ${timeoutMs} ms; output: ${output()}`)), timeoutMs);
    const onData = () => {
      const line = output().split('\n').find((l) => l.startsWith('gateway listening on '));
      if (!line) return;
      clearTimeout(timer);
      done(line.replace('gateway listening on ', '').trim());
    };
    child.stdout!.on('data', onData);
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`gateway serve exited with ${code}: ${output()}`));
    });
  });
}

async function tablesSeenBy(region: string, accessKeyId: string): Promise<string[]> {
  const client = new DynamoDBClient({ endpoint: dynamoDbEndpoint(), region, credentials: { accessKeyId, secretAccessKey: accessKeyId } });
  try {
    return (await client.send(new ListTablesCommand({}))).TableNames ?? [];
  } finally {
    client.destroy();
  }
}

describe('gateway serve --dynamodb-endpoint without any AWS configuration', () => {
  let dir: string;
  const children: ChildProcess[] = [];
  const tables: [string, string, string][] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'gw-endpoint-'));
  });

  afterAll(async () => {
    for (const child of children) if (child.exitCode === null) child.kill('SIGKILL');
    for (const [table, region, key] of tables) {
      const client = new DynamoDBClient({ endpoint: dynamoDbEndpoint(), region, credentials: { accessKeyId: key, secretAccessKey: key } });
      await dropTable(client, table);
      client.destroy();
    }
    await rm(dir, { recursive: true, force: true });
  });

  /** Runs `gateway serve` against the run's DynamoDB Local, creates a host, stops it; returns its output. */
  async function serveOnce(label: string, extraEnv: Record<string, string>, home = join(dir, `${label}-home`)): Promise<{ table: string; output: string; code: number | null }> {
    const table = uniqueTableName(`gw-ep-${label}`);
    const dataDir = join(dir, label);
    const port = await freePort();
    let output = '';
    const child = spawn(process.execPath, [join(repo, 'bin/gateway.js'), 'serve', '--port', String(port), '--data-dir', dataDir, '--table', table, '--dynamodb-endpoint', dynamoDbEndpoint()], {
      cwd: repo,
      env: envWithoutAws(home, extraEnv),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout!.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr!.on('data', (c: Buffer) => (output += c.toString()));
    const url = await waitForListening(child, () => output, 120_000);
    const adminToken = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    const created = await apiClient(url)('POST', '/v1/hosts', { token: adminToken, body: { name: 'dev1', role: 'environment' } });
    expect(created.status).toBe(201);
    // 'close', not 'exit': its last lines may still be in the pipes at 'exit'; the output is taken after.
    const exited = new Promise<number | null>((done) => child.once('close', done));
    child.kill('SIGTERM');
    const code = await exited;
    return { table, output, code };
  }

  test('with no AWS_* variable and no ~/.aws it serves, on the local region and local-only credentials', async () => {
    const { table, code, output } = await serveOnce('bare', {});
    tables.push([table, 'us-east-1', 'gatewaylocal']);
    expect(code).toBe(0);
    expect(output).not.toMatch(/region is missing|Could not load credentials/i);
    expect(await tablesSeenBy('us-east-1', 'gatewaylocal')).toContain(table);
    expect(await tablesSeenBy('us-east-1', 'testkey')).not.toContain(table);
  }, 180_000);

  test("the user's own region and keys are used, not replaced", async () => {
    const { table, code } = await serveOnce('own', { AWS_REGION: 'eu-west-1', AWS_ACCESS_KEY_ID: 'userkey', AWS_SECRET_ACCESS_KEY: 'usersecret' });
    tables.push([table, 'eu-west-1', 'userkey']);
    expect(code).toBe(0);
    expect(await tablesSeenBy('eu-west-1', 'userkey')).toContain(table);
    expect(await tablesSeenBy('us-east-1', 'gatewaylocal')).not.toContain(table);
  }, 180_000);

  test("a profile in ~/.aws (keys and region) is the user's and is used", async () => {
    const home = join(dir, 'profile-home');
    await mkdir(join(home, '.aws'), { recursive: true });
    await writeFile(join(home, '.aws', 'credentials'), '[default]\naws_access_key_id = profilekey\naws_secret_access_key = profilesecret\n');
    await writeFile(join(home, '.aws', 'config'), '[default]\nregion = eu-central-1\n');
    const { table, code } = await serveOnce('profile', {}, home);
    tables.push([table, 'eu-central-1', 'profilekey']);
    expect(code).toBe(0);
    expect(await tablesSeenBy('eu-central-1', 'profilekey')).toContain(table);
  }, 180_000);

  test('AWS_DEFAULT_REGION alone sets the region; the credentials stay local-only', async () => {
    const { table, code } = await serveOnce('default-region', { AWS_DEFAULT_REGION: 'ap-south-1' });
    tables.push([table, 'ap-south-1', 'gatewaylocal']);
    expect(code).toBe(0);
    expect(await tablesSeenBy('ap-south-1', 'gatewaylocal')).toContain(table);
  }, 180_000);

  test('--help says what happens when nothing is configured', async () => {
    let out = '';
    const io = { stdout: { write: (s: string) => ((out += s), true) }, stderr: { write: (s: string) => ((out += s), true) }, env: {} };
    expect(await main(['serve', '--help'], io)).toBe(0);
    expect(out).toMatch(/--dynamodb-endpoint URL[\s\S]*none are, region us-east-1 and local-only credentials/);
    expect(out).toContain('listens on 127.0.0.1 only, with telemetry off');
  });
});
