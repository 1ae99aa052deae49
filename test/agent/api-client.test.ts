import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { ApiClient } from '../../src/agent/api-client';

describe('ApiClient URLs', () => {
  it('keeps the base path of the API URL (an API Gateway stage such as /api)', async () => {
    const paths: string[] = [];
    const server = createServer((req, res) => {
      paths.push(req.url ?? '');
      res.writeHead(304).end();
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { port } = server.address() as AddressInfo;
    try {
      for (const base of [`http://127.0.0.1:${port}/api`, `http://127.0.0.1:${port}/api/`, `http://127.0.0.1:${port}`]) {
        const poll = await new ApiClient({ baseUrl: base }).config('h-1', 'gwh_x', { etag: '"e"', waitSeconds: 5 });
        expect(poll.changed).toBe(false);
      }
      expect(paths).toEqual(['/api/v1/hosts/h-1/config?wait=5', '/api/v1/hosts/h-1/config?wait=5', '/v1/hosts/h-1/config?wait=5']);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
