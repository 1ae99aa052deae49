import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleAgent, gatewayVersion } from '../../lib/bundles';
import { type Api, type ApiRequest, type ApiSettings, createApi, GatewayStore, generateEd25519KeyPair, LocalSigner } from '../../src/api';
import { PUBLIC_ROUTES } from '../../src/api/route-groups/public';
import { testDynamoClient } from '../support/dynamodb';
import { apiClient, startTestGateway } from '../support/gateway';

/**
 * GET /v1/bootstrap and GET /v1/agent/{file}: open, cacheable, and pinned to the bundle that is
 * served. The agent bundle is built for real (lib/bundles.ts) into a temporary directory; the store
 * is never reached by these routes (its table does not exist).
 */

const API = 'http://gateway.test:8080';

describe('bootstrap routes', () => {
  let dir: string;
  let bundlePath: string;
  let bundle: Buffer;
  let sha256: string;
  let fileName: string;
  const apis: Api[] = [];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'bootstrap-routes-'));
    bundlePath = join(dir, 'gateway-agent.js');
    bundleAgent(bundlePath);
    bundle = readFileSync(bundlePath);
    sha256 = createHash('sha256').update(bundle).digest('hex');
    fileName = `${gatewayVersion()}-${sha256.slice(0, 16)}.js`;
  });
  afterAll(() => {
    for (const api of apis) api.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function api(settings: Partial<ApiSettings> = {}): Api {
    const store = new GatewayStore({ client: testDynamoClient(), tableName: 'never-used' });
    const made = createApi({ store, signer: new LocalSigner(generateEd25519KeyPair().privateKey), settings: { agentBundlePath: bundlePath, ...settings } }, PUBLIC_ROUTES);
    apis.push(made);
    return made;
  }

  const get = (path: string, headers: Record<string, string> = { host: 'gateway.test:8080' }, method = 'GET'): ApiRequest => ({ method, path, headers, query: {}, body: Buffer.alloc(0) });

  it('serves a POSIX sh script pinning the URL it was fetched from and the bundle it installs', async () => {
    const res = await api()(get('/v1/bootstrap'));
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'text/x-shellscript; charset=utf-8', 'cache-control': 'public, max-age=300', vary: 'Host, X-Forwarded-Proto' });
    expect(res.body.startsWith('#!/bin/sh\n')).toBe(true);
    expect(res.body).toContain(`GATEWAY_API='${API}'\n`);
    expect(res.body).toContain(`AGENT_URL='${API}/v1/agent/${fileName}'\n`);
    expect(res.body).toContain(`AGENT_SHA256='${sha256}'\n`);
    expect(res.body).toContain(`AGENT_VERSION='${gatewayVersion()}'\n`);
  });

  it('pins https when a TLS proxy in front says so, and a configured public URL over any header', async () => {
    const proxied = await api()(get('/v1/bootstrap', { host: 'gw.example.com', 'x-forwarded-proto': 'https' }));
    expect(proxied.body).toContain("GATEWAY_API='https://gw.example.com'\n");
    const configured = await api({ publicUrl: 'https://abc.execute-api.eu-west-1.amazonaws.com/api' })(get('/v1/bootstrap', { host: 'evil.example', 'x-forwarded-proto': 'http' }));
    expect(configured.body).toContain("GATEWAY_API='https://abc.execute-api.eu-west-1.amazonaws.com/api'\n");
    expect(configured.body).toContain(`AGENT_URL='https://abc.execute-api.eu-west-1.amazonaws.com/api/v1/agent/${fileName}'\n`);
  });

  it.each([
    ['missing', {}],
    ['a shell injection', { host: "gw.test';reboot;'" }],
    ['a space', { host: 'gw test' }],
    ['a path', { host: 'gw.test/x' }],
    ['credentials', { host: 'user@gw.test' }],
  ])('refuses a Host header that is %s: 400 naming host', async (_what, headers) => {
    const res = await api()(get('/v1/bootstrap', headers as Record<string, string>));
    expect(res.status).toBe(400);
    expect(res.headers['content-type']).toBe('application/problem+json');
    expect(JSON.parse(res.body).errors).toEqual([{ field: 'host', message: expect.stringContaining('Host header') }]);
  });

  it('serves the bundle under its immutable name, byte for byte, and 304 for its ETag', async () => {
    const gateway = api();
    const res = await gateway(get(`/v1/agent/${fileName}`));
    expect(res.status).toBe(200);
    expect(res.headers).toMatchObject({ 'content-type': 'text/javascript; charset=utf-8', 'cache-control': 'public, max-age=31536000, immutable', etag: `"${sha256}"` });
    expect(createHash('sha256').update(res.body, 'utf8').digest('hex')).toBe(sha256);
    const again = await gateway(get(`/v1/agent/${fileName}`, { 'if-none-match': `"${sha256}"` }));
    expect([again.status, again.body]).toEqual([304, '']);
    const script = await gateway(get('/v1/bootstrap'));
    const cached = await gateway(get('/v1/bootstrap', { host: 'gateway.test:8080', 'if-none-match': script.headers.etag }));
    expect(cached.status).toBe(304);
  });

  it.each([['another version', '0.0.1-0123456789abcdef.js'], ['a path', '..%2Fpackage.json'], ['garbage', '%ff']])('answers 404 for %s', async (_what, file) => {
    const res = await api()(get(`/v1/agent/${file}`));
    expect(res.status).toBe(404);
    expect(res.headers['content-type']).toBe('application/problem+json');
  });

  it('is 503 with what to do while no bundle is built, and when the file is not a bundle', async () => {
    const missing = await api({ agentBundlePath: join(dir, 'absent.js') })(get('/v1/bootstrap'));
    expect(missing.status).toBe(503);
    expect(JSON.parse(missing.body).detail).toContain('npm run build');
    writeFileSync(join(dir, 'plain.js'), 'console.log(1)\n');
    const plain = await api({ agentBundlePath: join(dir, 'plain.js') })(get(`/v1/agent/${fileName}`));
    expect(plain.status).toBe(503);
    expect(JSON.parse(plain.body).detail).toContain('banner');
    writeFileSync(join(dir, 'utf8.js'), '#!/usr/bin/env node\n// gateway-agent 1.0.0\nconsole.log("é")\n');
    const utf8 = await api({ agentBundlePath: join(dir, 'utf8.js') })(get('/v1/bootstrap'));
    expect(utf8.status).toBe(503);
    expect(JSON.parse(utf8.body).detail).toContain('ASCII');
  });

  it('over real HTTP: no authentication, HEAD without a body, and the script is what the bundle route serves', async () => {
    const gw = await startTestGateway({ settings: { agentBundlePath: bundlePath } });
    try {
      const call = apiClient(gw.url);
      const script = await call('GET', '/v1/bootstrap');
      expect(script.status).toBe(200);
      expect(script.text).toContain(`GATEWAY_API='${gw.url}'\n`);
      const agentUrl = /^AGENT_URL='([^']+)'$/m.exec(script.text)![1];
      const agent = await fetch(agentUrl);
      expect(agent.status).toBe(200);
      expect(Buffer.from(await agent.arrayBuffer()).equals(bundle)).toBe(true);
      const head = await fetch(`${gw.url}/v1/bootstrap`, { method: 'HEAD' });
      expect([head.status, head.headers.get('content-type'), await head.text()]).toEqual([200, 'text/x-shellscript; charset=utf-8', '']);
    } finally {
      await gw.close();
    }
  });
});
