import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { createServer, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { RouteTable } from '../../src/mesh/routes';
import { RouteCache, RouteCacheError } from '../../src/proxy/route-cache';
import { HttpRouteSource } from '../../src/proxy/route-source';
import { eventually, tempDir } from './support';

const entry = (hostId: string, port: number) => ({ hostId, ip: '10.42.0.9', owner: { subject: 's', organization: 'o' }, ports: [{ port, access: 'public' as const, protocol: 'http' as const }] });
const table = (version: string, ...routes: ReturnType<typeof entry>[]): RouteTable => ({ version, routes });

/**
 * An HttpRouteSource with `cache` against a loopback stand-in for the control plane answering with
 * `handler`; `body` sees the tables it served and the errors it reported; everything is closed after.
 */
async function withHttpSource(
  cache: RouteCache,
  handler: RequestListener,
  options: { waitSeconds?: number },
  body: (seen: RouteTable[], errors: string[]) => Promise<void>,
): Promise<void> {
  const server: Server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const source = new HttpRouteSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/routes`, { retryMs: 10, ...options, cache });
  const seen: RouteTable[] = [];
  const errors: string[] = [];
  source.start((t) => seen.push(t), (e) => errors.push(e.message));
  try {
    await body(seen, errors);
  } finally {
    await source.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  }
}

describe('the saved route table', () => {
  const tmp = tempDir('route-cache-');
  afterAll(() => tmp.cleanup());

  it('saves a table 0600, loads it back, and measures its age from the last confirmation', () => {
    const path = join(tmp.dir, 'saved.json');
    const cache = new RouteCache(path, 60_000);
    expect(cache.load()).toBeUndefined();
    const t0 = new Date('2030-01-01T00:00:00Z');
    cache.save(table('7', entry('h1', 3000)), t0);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(cache.load(new Date(t0.getTime() + 60_000))).toEqual({ table: table('7', entry('h1', 3000)), confirmedAt: t0 });
    expect(() => cache.load(new Date(t0.getTime() + 60_001))).toThrow(RouteCacheError);
    cache.confirm(new Date(t0.getTime() + 50_000));
    expect(cache.load(new Date(t0.getTime() + 110_000))?.table.version).toBe('7');
    expect(() => cache.load(new Date(t0.getTime() + 110_001))).toThrow(/longer ago than the limit of 60 s/);
  });

  it('refuses a file that is not a route table, naming it', () => {
    const path = join(tmp.dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ version: '1', routes: [{ hostId: 'h1' }] }));
    expect(() => new RouteCache(path).load()).toThrow(/bad\.json is unusable: routes\[0\]\.ip/);
    writeFileSync(path, '{"version":');
    expect(() => new RouteCache(path).load()).toThrow(RouteCacheError);
  });

  it('http source: serves the saved table while the control plane is down, then asks for the changes since it', async () => {
    const dir = tempDir('route-cache-http-');
    const cache = new RouteCache(join(dir.dir, 'routes.json'));
    cache.save(table('5', entry('h1', 3000)));
    let up = false;
    const requests: string[] = [];
    const controlPlane: RequestListener = (req, res) => {
      if (!up) {
        req.socket.destroy();
        return;
      }
      requests.push(req.url!);
      if (req.url!.includes('since=5')) res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ from: '5', to: '6', upsert: [entry('h2', 8080)], remove: [] }));
      else res.writeHead(304).end();
    };
    try {
      await withHttpSource(cache, controlPlane, { waitSeconds: 1 }, async (seen, errors) => {
        await eventually(() => seen.length === 1);
        expect(seen[0]).toEqual(table('5', entry('h1', 3000)));
        expect(errors.some((e) => e.includes('serving the route table saved at') && e.includes('version 5'))).toBe(true);
        up = true;
        await eventually(() => seen.length === 2);
        expect(requests[0]).toBe('/v1/routes?since=5&wait=1');
        expect(seen[1]).toEqual(table('6', entry('h1', 3000), entry('h2', 8080)));
        await eventually(() => JSON.parse(readFileSync(cache.path, 'utf8')).version === '6');
      });
    } finally {
      dir.cleanup();
    }
  });

  it('http source: a control plane that refuses the proxy (401) is not a reason to serve the saved table', async () => {
    const dir = tempDir('route-cache-refused-');
    const cache = new RouteCache(join(dir.dir, 'routes.json'));
    cache.save(table('5', entry('h1', 3000)));
    let refusals = 0;
    const refusing: RequestListener = (_req, res) => {
      refusals++;
      res.writeHead(401, { 'content-type': 'application/problem+json' }).end('{}');
    };
    try {
      await withHttpSource(cache, refusing, {}, async (seen, errors) => {
        await eventually(() => refusals >= 3);
        expect(seen).toEqual([]);
        expect(errors.every((e) => e.includes('HTTP 401'))).toBe(true);
      });
    } finally {
      dir.cleanup();
    }
  });

  it('http source: a saved table past the age limit is not served; the refusal says why', async () => {
    const dir = tempDir('route-cache-old-');
    const cache = new RouteCache(join(dir.dir, 'routes.json'), 1000);
    cache.save(table('5', entry('h1', 3000)));
    const old = new Date(Date.now() - 5000);
    utimesSync(cache.path, old, old);
    try {
      await withHttpSource(cache, (req) => req.socket.destroy(), {}, async (seen, errors) => {
        await eventually(() => errors.some((e) => e.includes('longer ago than the limit')));
        expect(seen).toEqual([]);
      });
    } finally {
      dir.cleanup();
    }
  });
});
