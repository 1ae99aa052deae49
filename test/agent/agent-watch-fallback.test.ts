/**
 * The agent watches the watch URL the API names, falls back to polling the API while the watch
 * endpoint is down, and goes back to watching as soon as it answers (issue 11). Real components:
 * a local gateway (test/support/gateway.ts) is the API, behind a recording pass-through; the watch
 * endpoint is a second API server on the same DynamoDB Local table (src/api + src/server's HTTP
 * server, as an ECS task serves it) that the test stops and starts on a fixed port. nebula is a
 * stand-in script (as in agent-follows-the-real-api.test.ts): what is asserted is what each
 * endpoint was asked and which config the agent wrote.
 */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createLogger, enrollHost, runAgent } from '../../src/agent';
import { createApi, GatewayStore, LocalSigner, parseEd25519PrivateKeyPem } from '../../src/api';
import { HOST_CONFIG_ROUTES } from '../../src/api/route-groups/host-config';
import { createHttpServer } from '../../src/server';
import { encodeX25519PublicKeyPem, generateX25519KeyPair, NebulaCertificate } from '../../src/pki';
import { testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';
import { waitUntil } from '../support/wait';

const FAKE_NEBULA = `#!/bin/sh
if [ "$1" = "-test" ]; then exit 0; fi
if [ "$1" = "-version" ]; then echo "Version: 1.6.1"; exit 0; fi
trap 'exit 0' TERM
trap 'true' HUP
while :; do sleep 1 & wait $!; done
`;

/**
 * A port free on 127.0.0.1 a moment ago, below the kernel's ephemeral range (and the agents' nebula
 * consoles, 20000-29999): the watch endpoint is stopped and started again on it, and a port from
 * freePort() (an ephemeral one) could meanwhile become an outgoing connection's source port, which
 * would make the restart fail with EADDRINUSE.
 */
async function restartablePort(): Promise<number> {
  const [ephemeralLow] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/).map(Number);
  const high = Math.min(20_000, ephemeralLow);
  if (high <= 10_000) throw new Error(`the ephemeral port range starts at ${ephemeralLow}: no room below it for the watch endpoint`);
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = 10_000 + Math.floor(Math.random() * (high - 10_000));
    const free = await new Promise<boolean>((done) => {
      const probe = createServer();
      probe.once('error', () => done(false));
      probe.listen(port, '127.0.0.1', () => probe.close(() => done(true)));
    });
    if (free) return port;
  }
  throw new Error('no free port found between 10000 and the ephemeral range');
}

interface Seen {
  path: string;
  wait: boolean;
}

describe('agent watch: fallback to the API and return', () => {
  let gw: TestGateway;
  let relay: Server;
  let relayUrl: string;
  const apiSeen: Seen[] = [];
  const watchSeen: Seen[] = [];
  let watchPort: number;
  let watchServer: Server | undefined;
  let closeWatchApi: (() => void) | undefined;
  const client = testDynamoClient();
  const work = mkdtempSync(join(tmpdir(), 'agent-watch-'));
  const lines: string[] = [];
  const events = () => lines.map((l) => JSON.parse(l) as { event: string; via?: string; kind?: string });
  const stop = new AbortController();
  let running: Promise<number> | undefined;

  const record = (into: Seen[], url: string | undefined) => {
    const u = new URL(url ?? '/', 'http://x');
    into.push({ path: u.pathname, wait: u.searchParams.has('wait') });
  };

  /** The watch endpoint: the host-config routes on the gateway's table, as a server task serves them. */
  const startWatch = async () => {
    const signer = new LocalSigner(parseEd25519PrivateKeyPem(readFileSync(join(gw.dataDir, 'ca.key'), 'utf8')));
    const api = createApi({ store: new GatewayStore({ client, tableName: gw.tableName }), signer, settings: { watchUrl: `http://127.0.0.1:${watchPort}` } }, HOST_CONFIG_ROUTES);
    const server = createHttpServer((req) => {
      record(watchSeen, req.path + (req.query.wait !== undefined ? '?wait' : ''));
      return api(req);
    }, { maxBodyBytes: 65536 });
    await new Promise<void>((done) => server.listen(watchPort, '127.0.0.1', done));
    watchServer = server;
    closeWatchApi = () => api.close();
  };
  const stopWatch = async () => {
    closeWatchApi?.();
    await new Promise((done) => {
      watchServer!.close(done);
      watchServer!.closeAllConnections();
    });
    watchServer = undefined;
  };

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await apiClient(gw.url)(method, path, { token: gw.adminToken, body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  const victim = async (name: string) => {
    const created = await admin('POST', '/v1/hosts', { name, role: 'environment' });
    const res = await apiClient(gw.url)('POST', '/v1/enroll', { body: { token: created.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    return { id: created.host.id as string, fingerprint: NebulaCertificate.fromPem(res.body.certificate).fingerprint() };
  };
  const blocklist = (): string[] => (parse(readFileSync(join(work, 'host', 'config.yml'), 'utf8')) as { pki: { blocklist: string[] } }).pki.blocklist;
  const applied = (fingerprint: string) => waitUntil(`config.yml to blocklist ${fingerprint.slice(0, 12)} (its blocklist)`, blocklist, (list) => list.includes(fingerprint), { timeoutMs: 20_000 });
  const lastApplied = () => events().filter((e) => e.event === 'nebula_reloaded').at(-1);

  beforeAll(async () => {
    watchPort = await restartablePort();
    gw = await startTestGateway({ watchUrl: `http://127.0.0.1:${watchPort}` });
    // The API as the agent reaches it, recording what it is asked.
    relay = createServer((req, res) => {
      if (req.url?.includes('/config')) record(apiSeen, req.url);
      const target = new URL(gw.url);
      const upstream = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: req.headers }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      req.pipe(upstream);
    });
    await new Promise<void>((done) => relay.listen(0, '127.0.0.1', done));
    relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
    writeFileSync(join(work, 'nebula'), FAKE_NEBULA);
    chmodSync(join(work, 'nebula'), 0o755);
    await startWatch();
  });

  afterAll(async () => {
    stop.abort();
    await running;
    if (watchServer) await stopWatch();
    await new Promise((done) => relay?.close(done));
    await gw?.close();
    client.destroy();
    rmSync(work, { recursive: true, force: true });
  });

  it('watches the watch URL, polls the API while it is down, and returns to it when it answers', async () => {
    const created = await admin('POST', '/v1/hosts', { name: 'watched', role: 'environment' });
    const logger = createLogger('json', { write: (l: string) => lines.push(l) });
    await enrollHost({ api: relayUrl, token: created.enrollment.token, dir: join(work, 'host'), logger });
    expect(JSON.parse(readFileSync(join(work, 'host', 'agent.json'), 'utf8')).watchUrl).toBe(`http://127.0.0.1:${watchPort}`);
    running = runAgent({
      dir: join(work, 'host'),
      nebulaBinary: join(work, 'nebula'),
      logger,
      signal: stop.signal,
      fallbackPollMs: 200,
      watchBackoff: { baseMs: 100, capMs: 400 },
      backoff: { baseMs: 50, capMs: 200 },
    });

    // 1. Watching: a revocation arrives as a delta through the watch endpoint; the API is not asked.
    await waitUntil('the agent to long-poll the watch endpoint (requests seen there)', () => watchSeen, (s) => s.some((r) => r.wait), { timeoutMs: 20_000 });
    const first = await victim('first');
    await admin('DELETE', `/v1/hosts/${first.id}`);
    await applied(first.fingerprint);
    expect(lastApplied()).toMatchObject({ via: 'watch', kind: 'delta' });
    expect(apiSeen).toEqual([]);

    // 2. The watch endpoint goes away: the agent polls the API (no long-poll there) and still follows revocations.
    await stopWatch();
    const watchRequestsWhileUp = watchSeen.length;
    const second = await victim('second');
    await admin('DELETE', `/v1/hosts/${second.id}`);
    await applied(second.fingerprint);
    expect(lastApplied()?.via).toBe('api');
    expect(apiSeen.length).toBeGreaterThan(0);
    expect(apiSeen.every((r) => !r.wait)).toBe(true);
    expect(events().some((e) => e.event === 'watch_unreachable')).toBe(true);

    // 3. The watch endpoint is back: the agent returns to it, and the next revocation comes through it.
    await startWatch();
    await waitUntil('the agent to watch again (requests seen by the restarted watch endpoint)', () => watchSeen.length, (n) => n > watchRequestsWhileUp, { timeoutMs: 20_000 });
    const third = await victim('third');
    await admin('DELETE', `/v1/hosts/${third.id}`);
    await applied(third.fingerprint);
    expect(lastApplied()?.via).toBe('watch');
    expect(events().some((e) => e.event === 'watch_reachable')).toBe(true);
    expect(blocklist()).toEqual([first.fingerprint, second.fingerprint, third.fingerprint].sort());
  });
});
