import { writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import type { RouteTable } from '../../src/mesh/routes';
import { FileRouteSource, HttpRouteSource } from '../../src/proxy/route-source';
import { eventually, tempDir } from './support';

const tableV = (version: string): RouteTable => ({
  version,
  routes: [{ hostId: 'h1', ip: '10.42.0.9', owner: { subject: 's', organization: 'o' }, ports: [{ port: 3000, access: 'public', protocol: 'http' }] }],
});

describe('route sources', () => {
  it('file: delivers the table, keeps the last good one when the file turns bad, and follows changes', async () => {
    const tmp = tempDir('routes-file-');
    const path = join(tmp.dir, 'routes.json');
    writeFileSync(path, JSON.stringify(tableV('1')));
    const source = new FileRouteSource(path, { pollIntervalMs: 50 });
    const seen: string[] = [];
    const errors: string[] = [];
    source.start((t) => seen.push(t.version), (e) => errors.push(e.message));
    try {
      await eventually(() => seen.length === 1);
      writeFileSync(path, JSON.stringify({ version: '2', routes: [{ hostId: 'h1' }] }));
      await eventually(() => errors.length > 0);
      expect(errors[0]).toContain('routes[0].ip');
      writeFileSync(path, JSON.stringify(tableV('3')));
      await eventually(() => seen.length === 2);
      expect(seen).toEqual(['1', '3']);
    } finally {
      await source.close();
      tmp.cleanup();
    }
  });

  it('http: the whole table, then ?since=<version>&wait= deltas applied in order; a delta from another version refetches the table', async () => {
    const entry = (hostId: string, port: number) => ({ hostId, ip: '10.42.0.9', owner: { subject: 's', organization: 'o' }, ports: [{ port, access: 'public', protocol: 'http' }] });
    // What the fake control plane answers next, one per request after the first.
    const answers: unknown[] = [
      { from: '1', to: '2', upsert: [entry('h2', 8080)], remove: [] },
      { from: '2', to: '4', upsert: [entry('h1', 3001)], remove: ['h2'] },
      { from: '9', to: '10', upsert: [entry('h9', 1)], remove: [] },
      { version: '10', routes: [entry('h3', 5000)] },
    ];
    const requests: string[] = [];
    const waiting: (() => void)[] = [];
    const server: Server = createServer((req, res) => {
      requests.push(req.url!);
      const answer = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (!req.url!.includes('since=')) answer(tableV('1'));
      else if (answers.length > 0) answer(answers.shift());
      else waiting.push(() => res.writeHead(304).end());
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/routes?host=h-proxy`;
    const source = new HttpRouteSource(url, { waitSeconds: 30, retryMs: 10, headers: { authorization: 'Bearer gwh_test' } });
    const seen: RouteTable[] = [];
    const errors: string[] = [];
    source.start((t) => seen.push(t), (e) => errors.push(e.message));
    try {
      await eventually(() => waiting.length === 1);
      expect(requests.slice(0, 4)).toEqual(['/v1/routes?host=h-proxy', '/v1/routes?host=h-proxy&since=1&wait=30', '/v1/routes?host=h-proxy&since=2&wait=30', '/v1/routes?host=h-proxy&since=4&wait=30']);
      expect(seen.map((t) => t.version)).toEqual(['1', '2', '4', '1', '10']);
      expect(seen[1].routes).toEqual([tableV('1').routes[0], entry('h2', 8080)]);
      // h1 replaced in place, h2 removed.
      expect(seen[2].routes).toEqual([entry('h1', 3001)]);
      // The delta from 9 did not apply to version 4: dropped, the whole table fetched again.
      expect(errors).toEqual([expect.stringContaining('a delta from 9, not from the version in hand')]);
      expect(requests[4]).toBe('/v1/routes?host=h-proxy');
      expect(seen[4].routes).toEqual([entry('h3', 5000)]);
      // The tables handed out earlier are untouched by later deltas.
      expect(seen[0].routes).toEqual(tableV('1').routes);
    } finally {
      await source.close();
      for (const w of waiting) w();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });

  it('http: a hostile or broken delta is refused; the last good table stays and the whole table is fetched again', async () => {
    const entry = (hostId: string, port: number) => ({ hostId, ip: '10.42.0.9', owner: { subject: 's', organization: 'o' }, ports: [{ port, access: 'public', protocol: 'http' }] });
    const bad: [unknown, string][] = [
      [{ from: '1', to: '2', upsert: [entry('h2', 1)], remove: ['h2'] }, 'remove[0]: host h2 is listed twice'],
      [{ from: '1', to: '2', upsert: [entry('h2', 1), entry('h2', 2)], remove: [] }, 'upsert[1].hostId: duplicate host h2'],
      [{ from: '1', to: '2', upsert: [{ ...entry('h2', 1), ip: '10.42.0.999' }], remove: [] }, 'upsert[0].ip'],
      [{ from: '1', to: '2', upsert: [], remove: ['Not A Label'] }, 'remove[0]'],
      [{ from: '1', upsert: [], remove: [] }, 'to'],
    ];
    const answers = [...bad.map(([body]) => body)];
    let fullFetches = 0;
    const server: Server = createServer((req, res) => {
      const answer = (body: unknown) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      if (!req.url!.includes('since=')) {
        fullFetches++;
        answer(tableV('1'));
      } else if (answers.length > 0) answer(answers.shift());
      else res.writeHead(304).end();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const source = new HttpRouteSource(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/routes`, { retryMs: 10 });
    const seen: RouteTable[] = [];
    const errors: string[] = [];
    source.start((t) => seen.push(t), (e) => errors.push(e.message));
    try {
      await eventually(() => errors.length === bad.length && fullFetches === bad.length + 1 && seen.length === bad.length + 1);
      bad.forEach(([, message], i) => expect(errors[i]).toContain(message));
      // Only whole tables were delivered: nothing of a refused delta reached the proxy.
      expect(seen.map((t) => t.routes)).toEqual(Array(bad.length + 1).fill(tableV('1').routes));
    } finally {
      await source.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
