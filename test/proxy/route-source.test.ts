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

  it('http: GET /v1/routes with If-None-Match and ?wait= long-polls, new table on change', async () => {
    let current = tableV('1');
    const waiting: (() => void)[] = [];
    const requests: { url: string; inm?: string; auth?: string }[] = [];
    const server: Server = createServer((req, res) => {
      requests.push({ url: req.url!, inm: req.headers['if-none-match'], auth: req.headers.authorization });
      const etag = `"${current.version}"`;
      const answer = () => {
        if (req.headers['if-none-match'] === `"${current.version}"`) {
          res.writeHead(304, { etag: `"${current.version}"` }).end();
        } else {
          res.writeHead(200, { etag: `"${current.version}"`, 'content-type': 'application/json' }).end(JSON.stringify(current));
        }
      };
      if (req.headers['if-none-match'] === etag && new URL(req.url!, 'http://x').searchParams.get('wait')) waiting.push(answer);
      else answer();
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/routes`;
    const source = new HttpRouteSource(url, { waitSeconds: 30, headers: { authorization: 'Bearer gwh_test' } });
    const seen: string[] = [];
    source.start((t) => seen.push(t.version), () => {});
    try {
      await eventually(() => seen.length === 1 && waiting.length === 1);
      expect(requests[1]).toEqual({ url: '/v1/routes?wait=30', inm: '"1"', auth: 'Bearer gwh_test' });
      current = tableV('2');
      waiting.shift()!();
      await eventually(() => seen.length === 2);
      expect(seen).toEqual(['1', '2']);
    } finally {
      await source.close();
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});
