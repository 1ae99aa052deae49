import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../src/cli/main';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { freePort, startGateway } from '../../src/server';
import { apiClient } from '../support/gateway';

const publicKey = () => encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
const repo = resolve(__dirname, '../..');

/** java processes whose command line mentions `dir` (the embedded DynamoDB Local of that data dir). */
function javaUsing(dir: string): string[] {
  const ps = spawnSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' }).stdout;
  return ps.split('\n').filter((line) => line.includes('DynamoDBLocal.jar') && line.includes(dir));
}

function waitForLine(child: ChildProcess, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((done, fail) => {
    let out = '';
    const timer = setTimeout(() => fail(new Error(`no line matching ${pattern} within ${timeoutMs} ms; output: ${out}`)), timeoutMs);
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const match = out.split('\n').find((line) => pattern.test(line));
      if (match) {
        clearTimeout(timer);
        done(match);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      fail(new Error(`gateway serve exited with ${code} before printing ${pattern}: ${out}`));
    });
  });
}

describe('gateway serve keeps its state across restarts', () => {
  let dataDir: string;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gw-restart-'));
  });

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await rm(dataDir, { recursive: true, force: true });
  });

  test('a real `gateway serve` process, then startGateway on the same data dir: hosts, leases, tokens, CA and admin token survive', async () => {
    const port = await freePort();
    const env = { ...process.env };
    delete env.GATEWAY_ADMIN_TOKEN;
    child = spawn(process.execPath, [join(repo, 'bin/gateway.js'), 'serve', '--port', String(port), '--data-dir', dataDir, '--cert-lifetime', '2h', '--token-ttl', '30m'], {
      cwd: repo,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let logs = '';
    child.stderr!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    child.stdout!.on('data', (chunk: Buffer) => (logs += chunk.toString()));
    const listening = await waitForLine(child, /^gateway listening on /, 120_000);
    const url = listening.replace('gateway listening on ', '').trim();
    expect(url).toBe(`http://127.0.0.1:${port}`);

    const adminToken = (await readFile(join(dataDir, 'admin-token'), 'utf8')).trim();
    expect(adminToken).toMatch(/^gwa_/);
    expect((await stat(join(dataDir, 'admin-token'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(dataDir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect(javaUsing(dataDir)).toHaveLength(1);

    const call = apiClient(url);
    const network1 = (await call('GET', '/v1/network')).body;
    const a = (await call('POST', '/v1/hosts', { token: adminToken, body: { name: 'a', role: 'environment' } })).body;
    const enrolledA = await call('POST', '/v1/enroll', { body: { token: a.enrollment.token, publicKey: publicKey() } });
    expect(enrolledA.status).toBe(200);
    expect(enrolledA.body.expiresAt).toBe(new Date(Date.parse(enrolledA.body.expiresAt)).toISOString());
    const b = (await call('POST', '/v1/hosts', { token: adminToken, body: { name: 'b', role: 'proxy' } })).body;

    // 'close', not 'exit': its last line ('gateway stopped') may still be in the pipe at 'exit'.
    // Its DynamoDB Local has pipes of its own and is stopped first, so nothing else holds this one.
    const exited = new Promise<number | null>((done) => child!.once('close', (code) => done(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(javaUsing(dataDir)).toEqual([]);
    expect(logs).toContain('gateway stopped');
    expect(logs).toContain(join(dataDir, 'admin-token'));
    expect(logs).not.toContain(adminToken);
    expect(logs).not.toContain(a.enrollment.token);
    expect(logs).not.toContain(enrolledA.body.credential);

    const again = await startGateway({ dataDir, port: 0, env: {}, log: () => undefined });
    try {
      expect(again.adminToken).toBe(adminToken);
      const call2 = apiClient(again.url);
      expect((await call2('GET', '/v1/network')).body).toEqual(network1);
      const hosts = (await call2('GET', '/v1/hosts', { token: adminToken })).body.hosts;
      expect(hosts.map((h: { id: string; status: string; ip: string }) => [h.id, h.status, h.ip]).sort()).toEqual(
        [
          [a.host.id, 'active', a.host.ip],
          [b.host.id, 'pending', b.host.ip],
        ].sort(),
      );
      expect((await call2('GET', `/v1/hosts/${a.host.id}/config`, { token: enrolledA.body.credential })).status).toBe(200);
      const taken = await call2('POST', '/v1/hosts', { token: adminToken, body: { name: 'c', role: 'environment', ip: a.host.ip } });
      expect(taken.status).toBe(409);
      const enrolledB = await call2('POST', '/v1/enroll', { body: { token: b.enrollment.token, publicKey: publicKey() } });
      expect(enrolledB.status).toBe(200);
      expect(enrolledB.body.hostId).toBe(b.host.id);
      const c = await call2('POST', '/v1/hosts', { token: adminToken, body: { name: 'c', role: 'environment' } });
      expect([a.host.ip, b.host.ip]).not.toContain(c.body.host.ip);
    } finally {
      await again.stop();
    }
    expect(javaUsing(dataDir)).toEqual([]);
  }, 300_000);

  test('flag mistakes name the flag', async () => {
    const io = () => {
      const err: string[] = [];
      return { err, io: { stdout: { write: () => true }, stderr: { write: (s: string) => err.push(s) }, env: {} } };
    };
    for (const [argv, flag] of [
      [['serve', '--port', 'eighty'], '--port'],
      [['serve', '--cert-lifetime', 'forever'], '--cert-lifetime'],
      [['serve', '--token-ttl', '1s'], '--token-ttl'],
      [['serve', '--overlay-cidr', '10.42.0.0/33'], '--overlay-cidr'],
      [['serve', '--dynamodb-endpoint', 'localhost'], '--dynamodb-endpoint'],
      [['serve', '--bogus'], '--bogus'],
    ] as const) {
      const out = io();
      expect(await main([...argv], out.io)).toBe(2);
      expect(out.err.join('')).toContain(flag);
    }
  });
});
