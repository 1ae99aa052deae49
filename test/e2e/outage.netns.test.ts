import { type ChildProcess, execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { parse } from 'yaml';
import { revokeHostById } from '../../src/api/revocation';
import { proxyHostName } from '../../src/mesh/routes';
import { freePort } from '../../src/server';
import { endpointDynamoDbClient } from '../../src/server/dynamodb-client';
import { GatewayStore } from '../../src/store';
import { fetchVia, makeTlsFixture, type Reply } from '../proxy/support';
import { waitUntil } from '../support/wait';
import { GatewayMesh, type MeshNode } from './harness/gateway-mesh';
import { type Namespace, nsSpawn, Underlay } from './harness/netns';
import { ping, waitFor } from './harness/overlay';
import { describeMesh } from './harness/prerequisites';

/**
 * The data plane outlives the control plane (issue 12, part 4). A real mesh (a lighthouse, a
 * proxy host running two `gateway proxy` processes, three environments) under continuous proxied
 * HTTP requests and an idle WebSocket; the gateway (server and API in one process here) is stopped
 * for OUTAGE_SECONDS (default 60). During the outage an environment's agent is restarted (its
 * nebula with it) and one proxy process is restarted: it serves the route table it saved. A
 * revocation made just before the outage keeps applying; one made while the server is down
 * (straight in the store, as the Lambda API would while the server tasks are down) and a port
 * change made after it returns reach every host by themselves; the port change (public to
 * private) also ends the anonymous WebSocket.
 */
const DOMAIN = 'outage.test';
const OUTAGE_MS = Number(process.env.OUTAGE_SECONDS ?? 60) * 1000;
const WS_MODULE = resolve(__dirname, '../../node_modules/ws');

const WEB_SERVER = `
const http = require('node:http');
const { WebSocketServer } = require(process.argv[1]);
const server = http.createServer((req, res) => {
  res.setHeader('content-type', 'application/json');
  res.end(JSON.stringify({ from: process.argv[2], url: req.url }));
});
new WebSocketServer({ server }).on('connection', (ws) => ws.on('message', (data) => ws.send(String(data))));
server.listen(3000, '0.0.0.0', () => process.stdout.write('listening\\n'));
`;

interface ProxyProcess {
  child: ChildProcess;
  output: string;
  readonly port: number;
}

describeMesh()('the data plane while the control plane is down', () => {
  let underlay: Underlay;
  /** Stopped in afterAll too: a test that failed midway must not leave its request loop (and jest) running. */
  let trafficToStop: ReturnType<typeof startTraffic> | undefined;
  let wsToEnd: WebSocket | undefined;
  let work: string;
  let mesh: GatewayMesh;
  let lh: MeshNode, proxy: MeshNode, env1: MeshNode, env2: MeshNode, env3: MeshNode;
  const children: ChildProcess[] = [];
  const proxies: ProxyProcess[] = [];
  let tls: { ca: string; cert: string; key: string };
  const tableName = `e2e-outage-${process.pid}`;

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-outage-'));
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName,
      overlayCidr: '10.97.0.0/16',
      certificateLifetimeSeconds: 3600,
      sweepIntervalMs: 5000,
    });
    await mesh.startGateway();
  }, 60_000);

  afterAll(async () => {
    await trafficToStop?.stop();
    wsToEnd?.terminate();
    for (const p of [...children, ...proxies.map((x) => x.child)]) p.kill('SIGKILL');
    await mesh?.stop().catch(() => undefined);
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 30_000);

  it('keeps proxied requests, a WebSocket, restarted agents and proxies working through an outage, and catches up after it', async () => {
    lh = await mesh.enroll('lh', 'lighthouse');
    [proxy, env1, env2, env3] = await Promise.all([
      mesh.enroll('px', 'proxy'),
      mesh.enroll('env1', 'environment'),
      mesh.enroll('env2', 'environment'),
      mesh.enroll('env3', 'environment'),
    ]);
    for (const node of mesh.nodes) node.startAgent();
    await Promise.all(mesh.nodes.map((n) => n.waitForEvent('nebula_started', 1, 60_000)));
    for (const env of [env1, env2, env3]) {
      await startWebServer(env.ns, env.name);
      await mesh.admin('PATCH', `/v1/hosts/${env.hostId}`, { owner: { subject: 'dev', organization: 'acme' } });
      await mesh.admin('PUT', `/v1/hosts/${env.hostId}/ports/3000`, { access: 'public', protocol: 'http' });
      await waitFor(`px → ${env.name} over the overlay`, () => ping(proxy.ns, env.ip));
    }

    tls = makeTlsFixture(work, DOMAIN);
    writeFileSync(join(work, 'tls.crt'), tls.cert);
    writeFileSync(join(work, 'tls.key'), tls.key);
    const network = await (await fetch(`${mesh.url}/v1/network`)).json() as { accessTokenPublicKey: string };
    writeFileSync(join(work, 'token.pub'), network.accessTokenPublicKey);
    const proxyA = await startProxy(8443);
    let proxyB = await startProxy(8444);
    for (const p of [proxyA, proxyB]) {
      for (const env of [env1, env2, env3]) await waitForStatus(p, env, (s) => s === 200, `proxy :${p.port} to serve ${env.name}`);
    }

    const ws = await openWebSocket(proxyA.port, env1);
    wsToEnd = ws;
    expect(await echo(ws, 'before')).toBe('before');

    // A revocation just before the outage: env3 plays a host that ignores it (its agent dies, its
    // nebula keeps running on an unexpired certificate).
    const env3Fingerprint = fingerprintOf(env3);
    const rogue = env3.nebulaPid();
    await env3.stopAgent('SIGKILL');
    expect(rogue && alive(rogue)).toBe(true);
    await mesh.admin('DELETE', `/v1/hosts/${env3.hostId}`);
    for (const node of [lh, proxy, env1, env2]) {
      await waitUntil(`${node.name} to blocklist env3`, () => blocklistOf(node), (list) => list.includes(env3Fingerprint), { timeoutMs: 20_000, intervalMs: 200 });
    }
    for (const p of [proxyA, proxyB]) await waitForStatus(p, env3, (s) => s === 404, `proxy :${p.port} to drop env3's route`);
    await waitFor('px to lose its tunnel to env3', () => !ping(proxy.ns, env3.ip, 1), 30_000);

    // Continuous requests through proxy A, 10 a second, from before the outage until after it.
    const traffic = startTraffic(proxyA, env1);
    trafficToStop = traffic;
    await waitUntil('a first burst of requests through proxy A', () => traffic.done(), (n) => n >= 10, { timeoutMs: 20_000, intervalMs: 100 });

    // ---- the outage -------------------------------------------------------------------------
    const outageStarted = Date.now();
    const unreachable = new Map(mesh.nodes.map((n) => [n, n.events('api_unreachable').length]));
    await mesh.stopGateway();
    for (const node of [lh, proxy, env1, env2]) await node.waitForEvent('api_unreachable', (unreachable.get(node) ?? 0) + 1, 30_000);

    // A restarted agent starts nebula from its last config, then keeps retrying the API.
    expect(await env2.stopAgent('SIGTERM')).toBe(0);
    expect(env2.nebulaPid()).toBeUndefined();
    const env2Starts = env2.events('nebula_started').length;
    const env2Unreachable = env2.events('api_unreachable').length;
    env2.startAgent();
    await env2.waitForEvent('nebula_started', env2Starts + 1, 30_000);
    await env2.waitForEvent('api_unreachable', env2Unreachable + 2, 30_000);
    expect(env2.agent?.exitCode).toBeNull();
    // New handshakes between enrolled hosts: env2's fresh nebula finds the proxy through the lighthouse.
    await waitFor('px → env2 after its restart, during the outage', () => ping(proxy.ns, env2.ip), 30_000);

    // A restarted proxy serves the table it saved.
    const saved = join(work, `proxy-${proxyB.port}`, 'routes.json');
    expect(statSync(saved).mode & 0o777).toBe(0o600);
    await stopProxy(proxyB);
    proxyB = await startProxy(8444);
    await waitUntil('the restarted proxy B to say it serves its saved table', () => proxyB.output, (out) => out.includes('serving the route table saved at'), { timeoutMs: 20_000, intervalMs: 100 });
    expect((await request(proxyB, env2)).status).toBe(200);
    expect((await request(proxyB, env1)).status).toBe(200);
    expect((await request(proxyB, env3)).status).toBe(404);

    // The revocation made before the outage still applies, also in env2's restarted nebula.
    expect(alive(rogue!)).toBe(true);
    for (const peer of [proxy, env2, lh]) {
      expect(ping(env3.ns, peer.ip, 2)).toBe(false);
      expect(ping(peer.ns, env3.ip, 2)).toBe(false);
    }
    expect(blocklistOf(env2)).toContain(env3Fingerprint);
    expect(await echo(ws, 'during')).toBe('during');

    // A revocation while the server is down, written to the store as the Lambda API would.
    const env2Fingerprint = fingerprintOf(env2);
    const client = await endpointDynamoDbClient(process.env.AWS_ENDPOINT_URL_DYNAMODB!);
    try {
      const revoked = await revokeHostById({ store: new GatewayStore({ client, tableName }), clock: () => new Date(), settings: { minQuarantineSeconds: 0 } }, env2.hostId);
      expect(revoked?.status).toBe('revoked');
    } finally {
      client.destroy();
    }
    expect((await request(proxyA, env2)).status).toBe(200);

    const rest = OUTAGE_MS - (Date.now() - outageStarted);
    if (rest > 0) await new Promise((r) => setTimeout(r, rest));
    expect(await echo(ws, 'still')).toBe('still');

    // ---- the control plane returns ------------------------------------------------------------
    const outageEnded = Date.now();
    await mesh.startGateway();
    const rejected = await env2.waitForEvent('host_rejected', 1, 60_000);
    expect(rejected.status).toBe(401);
    expect(await env2.waitForAgentExit()).toBe(3);
    for (const node of [lh, proxy, env1]) {
      await waitUntil(`${node.name} to blocklist env2 (revoked during the outage)`, () => blocklistOf(node), (list) => list.includes(env2Fingerprint), { timeoutMs: 60_000, intervalMs: 250 });
    }
    for (const p of [proxyA, proxyB]) await waitForStatus(p, env2, (s) => s === 404, `proxy :${p.port} to drop env2's route`, 60_000);

    expect(await echo(ws, 'after')).toBe('after');

    // A change from the control plane after it returns reaches both proxies; the anonymous
    // WebSocket, admitted while the port was public, ends with it (the proxy re-checks what it relays).
    await mesh.admin('PUT', `/v1/hosts/${env1.hostId}/ports/3000`, { access: 'private', protocol: 'http' });
    for (const p of [proxyA, proxyB]) await waitForStatus(p, env1, (s) => s === 401, `proxy :${p.port} to make env1:3000 private`, 60_000);
    const savedAfter = JSON.parse(readFileSync(saved, 'utf8')) as { routes: Array<{ hostId: string; ports: Array<{ access: string }> }> };
    expect(savedAfter.routes.find((r) => r.hostId === env1.hostId)?.ports[0].access).toBe('private');
    await waitUntil('the anonymous WebSocket to end once its port is private', () => ws.readyState, (state) => state === WebSocket.CLOSED, { timeoutMs: 30_000, intervalMs: 100 });

    const result = await traffic.stop();
    // Every request through proxy A, before, during and after the outage, was answered by env1
    // (the last ones with 401: the port went private after the outage, a change from the control plane).
    expect(result.failures).toEqual([]);
    expect(result.answeredAt.filter((t) => t > outageStarted && t < outageEnded).length).toBeGreaterThan(OUTAGE_MS / 2000);
  }, OUTAGE_MS + 300_000);

  async function startProxy(port: number): Promise<ProxyProcess> {
    const credential = (JSON.parse(readFileSync(join(proxy.dir, 'agent.json'), 'utf8')) as { credential: string }).credential;
    const child = nsSpawn(
      proxy.ns,
      process.execPath,
      [
        join(__dirname, '..', '..', 'bin', 'gateway.js'), 'proxy', '--domain', DOMAIN,
        '--tls-cert', join(work, 'tls.crt'), '--tls-key', join(work, 'tls.key'),
        '--routes', `${mesh.url}/v1/routes?host=${proxy.hostId}`, '--token-public-key', join(work, 'token.pub'),
        '--listen', `0.0.0.0:${port}`, '--connect-timeout', '5s', '--access-log', 'off',
        '--state-dir', join(work, `proxy-${port}`),
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, GATEWAY_ROUTES_TOKEN: credential } },
    );
    const started: ProxyProcess = { child, output: '', port };
    proxies.push(started);
    await new Promise<void>((done, fail) => {
      child.once('exit', (code) => fail(new Error(`gateway proxy :${port} exited with ${code}: ${started.output}`)));
      child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
        started.output += chunk;
        if (started.output.includes('listening')) done();
      });
    });
    return started;
  }

  async function stopProxy(p: ProxyProcess): Promise<void> {
    const exited = new Promise((r) => p.child.once('exit', r));
    p.child.kill('SIGTERM');
    await exited;
  }

  function request(p: ProxyProcess, env: MeshNode): Promise<Reply> {
    return fetchVia(p.port, tls.ca, proxyHostName(3000, env.hostId, DOMAIN), '/hello', { connectTo: proxy.ns.ip });
  }

  async function waitForStatus(p: ProxyProcess, env: MeshNode, ok: (status: number) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
    await waitUntil(what, async () => (await request(p, env).catch((err: Error) => ({ status: 0, body: err.message }))).status, ok, { timeoutMs, intervalMs: 250 });
  }

  function openWebSocket(port: number, env: MeshNode): Promise<WebSocket> {
    const hostName = proxyHostName(3000, env.hostId, DOMAIN);
    return new Promise((done, fail) => {
      const options: WebSocket.ClientOptions & { servername: string } = { ca: tls.ca, servername: hostName, headers: { host: hostName } };
      const ws = new WebSocket(`wss://${proxy.ns.ip}:${port}/ws`, options);
      ws.once('open', () => done(ws));
      ws.once('error', fail);
    });
  }

  /** Requests through `p` to `env` back to back (one every 100 ms), each on a new connection. */
  function startTraffic(p: ProxyProcess, env: MeshNode): { done: () => number; stop: () => Promise<{ answeredAt: number[]; failures: string[] }> } {
    let running = true;
    const answeredAt: number[] = [];
    const failures: string[] = [];
    const loop = (async () => {
      while (running) {
        const at = new Date().toISOString();
        try {
          const reply = await request(p, env);
          const answered = reply.status === 200 ? (JSON.parse(reply.body) as { from: string }).from === env.name : reply.status === 401;
          if (answered) answeredAt.push(Date.now());
          else failures.push(`${at}: ${reply.status} ${reply.body.slice(0, 200)}`);
        } catch (err) {
          failures.push(`${at}: ${(err as Error).message}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
    })();
    return {
      done: () => answeredAt.length + failures.length,
      stop: async () => {
        running = false;
        await loop;
        return { answeredAt, failures };
      },
    };
  }

  async function startWebServer(ns: Namespace, name: string): Promise<void> {
    const child = nsSpawn(ns, process.execPath, ['-e', WEB_SERVER, WS_MODULE, name], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((done, fail) => {
      child.once('exit', (code) => fail(new Error(`web server in ${name} exited with ${code}`)));
      child.stdout!.once('data', () => done());
    });
  }
});

function echo(ws: WebSocket, text: string): Promise<string> {
  return new Promise((done, fail) => {
    // A socket already closed would emit neither event again: fail now rather than hang.
    if (ws.readyState !== WebSocket.OPEN) return fail(new Error(`the WebSocket is not open (state ${ws.readyState}) to echo '${text}'`));
    ws.once('message', (data) => done(data.toString()));
    ws.once('close', () => fail(new Error(`the WebSocket closed before echoing '${text}'`)));
    ws.send(text);
  });
}

function fingerprintOf(node: MeshNode): string {
  return (JSON.parse(execFileSync('nebula-cert', ['print', '-json', '-path', join(node.dir, 'host.crt')], { encoding: 'utf8' })) as { fingerprint: string }).fingerprint;
}

function blocklistOf(node: MeshNode): string[] {
  const path = join(node.dir, 'config.yml');
  if (!existsSync(path)) return [];
  const config = parse(readFileSync(path, 'utf8'), { version: '1.1' }) as { pki?: { blocklist?: string[] } } | null;
  return config?.pki?.blocklist ?? [];
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
