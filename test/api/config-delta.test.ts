/**
 * Config deltas (issue 11): a watcher whose config differs from the current one only in the
 * blocklist gets the change alone, which turns its config into the whole current one; anything
 * else (a gap, another certificate, no Accept) gets the whole config. Real gateway, DynamoDB Local.
 */
import { connect } from 'node:net';
import { parse } from 'yaml';
import { patchBlocklist } from '../../src/agent/config-patch';
import { localizeConfig } from '../../src/agent/local-config';
import { encodeX25519PublicKeyPem, generateX25519KeyPair, NebulaCertificate } from '../../src/pki';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

const DELTA = 'application/vnd.nebula-gateway.config-delta+json';

interface Enrolled {
  id: string;
  credential: string;
  fingerprint: string;
}

describe('config deltas', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await call(method, path, { token: gw.adminToken, body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  const enroll = async (name: string): Promise<Enrolled> => {
    const created = await admin('POST', '/v1/hosts', { name, role: 'environment' });
    const res = await call('POST', '/v1/enroll', { body: { token: created.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(res.status).toBe(200);
    return { id: created.host.id, credential: res.body.credential, fingerprint: NebulaCertificate.fromPem(res.body.certificate).fingerprint() };
  };
  const config = (host: Enrolled, headers: Record<string, string> = {}, query = '') =>
    call('GET', `/v1/hosts/${host.id}/config${query}`, { token: host.credential, headers });
  const blocklistOf = (yaml: string): string[] => (parse(yaml) as { pki: { blocklist: string[] } }).pki.blocklist;
  const local = (body: { config: string; ca: string; certificate: string }) => localizeConfig(body.config, body.ca, body.certificate, { keyPath: '/etc/nebula/host.key' });

  beforeAll(async () => {
    gw = await startTestGateway();
    call = apiClient(gw.url);
  });
  afterAll(() => gw?.close());

  it('sends the blocklist change alone, in order; applied to the first config it gives the whole current one', async () => {
    const watcher = await enroll('watcher');
    const [b, c] = [await enroll('victim-b'), await enroll('victim-c')];
    const first = await config(watcher);
    expect(first.status).toBe(200);
    expect(first.body.watchUrl).toBe(gw.url);
    const e0 = first.headers.get('etag')!;

    await admin('DELETE', `/v1/hosts/${b.id}`);
    const d1 = await config(watcher, { accept: `${DELTA}, application/json`, 'if-none-match': e0 });
    expect(d1.status).toBe(200);
    expect(d1.headers.get('content-type')).toBe(DELTA);
    expect(d1.body).toEqual({ from: e0, to: d1.headers.get('etag'), blocklist: { add: [b.fingerprint], remove: [] } });

    await admin('DELETE', `/v1/hosts/${c.id}`);
    const d2 = await config(watcher, { accept: DELTA, 'if-none-match': d1.body.to });
    expect(d2.body).toEqual({ from: d1.body.to, to: d2.headers.get('etag'), blocklist: { add: [c.fingerprint], remove: [] } });

    const whole = await config(watcher);
    expect(whole.headers.get('etag')).toBe(d2.body.to);
    let running = local(first.body).document as unknown;
    for (const delta of [d1.body, d2.body]) running = patchBlocklist(running, delta.blocklist).document;
    expect(patchBlocklist(running, { add: [], remove: [] }).yaml).toBe(local(whole.body).yaml);
    expect(blocklistOf(whole.body.config)).toEqual([b.fingerprint, c.fingerprint].sort());
  });

  it('wakes a long-polling watcher with the delta when a host is revoked', async () => {
    const watcher = await enroll('long-poller');
    const victim = await enroll('victim-d');
    const current = (await config(watcher)).headers.get('etag')!;
    const answer = config(watcher, { accept: DELTA, 'if-none-match': current }, '?wait=30');
    await admin('DELETE', `/v1/hosts/${victim.id}`);
    const delta = await answer;
    expect(delta.status).toBe(200);
    expect(delta.body.from).toBe(current);
    expect(delta.body.blocklist).toEqual({ add: [victim.fingerprint], remove: [] });
  });

  it('answers a gap, another certificate, or a client that did not ask for deltas with the whole config', async () => {
    const watcher = await enroll('gapped');
    const victim = await enroll('victim-e');
    const first = await config(watcher);
    const e0 = first.headers.get('etag')!;
    await admin('DELETE', `/v1/hosts/${victim.id}`);

    const unknownState = e0.replace(/\.[^"]+"$/, '.AAAAAAAAAAAAAAAAAAAAAA"');
    const gap = await config(watcher, { accept: DELTA, 'if-none-match': unknownState });
    expect(gap.headers.get('content-type')).toBe('application/json');
    expect(blocklistOf(gap.body.config)).toContain(victim.fingerprint);

    const noAccept = await config(watcher, { 'if-none-match': e0 });
    expect(noAccept.headers.get('content-type')).toBe('application/json');
    expect(noAccept.body.certificate).toBe(first.body.certificate);

    for (const garbage of ['"nonsense"', '*, "a.b"', 'W/"' + 'x'.repeat(500) + '"']) {
      const res = await config(watcher, { accept: DELTA, 'if-none-match': garbage });
      expect([res.status, res.headers.get('content-type')]).toEqual(garbage.startsWith('*') ? [304, null] : [200, 'application/json']);
    }

    // A new key: a certificate for the same key signed within the same second would be the same bytes.
    const renewed = await call('POST', `/v1/hosts/${watcher.id}/renew`, { token: watcher.credential, body: { publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(renewed.status).toBe(200);
    const afterRenewal = await config(watcher, { accept: DELTA, 'if-none-match': noAccept.headers.get('etag')! });
    expect(afterRenewal.headers.get('content-type')).toBe('application/json');
    expect(afterRenewal.body.certificate).toBe(renewed.body.certificate);
    expect(afterRenewal.body.certificate).not.toBe(first.body.certificate);
  });

  it("refuses the revoked host's own watcher rather than sending it a delta", async () => {
    const watcher = await enroll('self-revoked');
    const current = (await config(watcher)).headers.get('etag')!;
    const answer = config(watcher, { accept: DELTA, 'if-none-match': current }, '?wait=30');
    await admin('DELETE', `/v1/hosts/${watcher.id}`);
    const refused = await answer;
    expect(refused.status).toBe(401);
    expect(refused.headers.get('content-type')).toBe('application/problem+json');
  });

  it('costs a watcher at most 1 KB on the wire per revocation, headers included', async () => {
    const watcher = await enroll('measured');
    const victim = await enroll('victim-f');
    const current = (await config(watcher)).headers.get('etag')!;
    await admin('DELETE', `/v1/hosts/${victim.id}`);
    const raw = await rawExchange(
      gw.url,
      `GET /v1/hosts/${watcher.id}/config HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${watcher.credential}\r\nAccept: ${DELTA}\r\nIf-None-Match: ${current}\r\nConnection: close\r\n\r\n`,
    );
    expect(raw.toString('latin1')).toMatch(/^HTTP\/1\.1 200 /);
    expect(raw.toString('latin1')).toContain(victim.fingerprint);
    expect(raw.length).toBeLessThanOrEqual(1024);
  });

  it('answers at once, whatever ?wait= says, where long-polls are off (Lambda)', async () => {
    const lambdaLike = await startTestGateway({ settings: { longPollMaxSeconds: 0 }, watchUrl: 'https://watch.example.test:8443' });
    try {
      const lcall = apiClient(lambdaLike.url);
      const created = (await lcall('POST', '/v1/hosts', { token: lambdaLike.adminToken, body: { name: 'l1', role: 'environment' } })).body;
      const enrolled = await lcall('POST', '/v1/enroll', { body: { token: created.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
      expect(enrolled.body.watchUrl).toBe('https://watch.example.test:8443');
      const path = `/v1/hosts/${created.host.id}/config`;
      const first = await lcall('GET', path, { token: enrolled.body.credential });
      const held = await lcall('GET', `${path}?wait=60`, { token: enrolled.body.credential, headers: { 'if-none-match': first.headers.get('etag')! } });
      expect(held.status).toBe(304);
      const tooLong = await lcall('GET', `${path}?wait=61`, { token: enrolled.body.credential });
      expect(tooLong.status).toBe(400);
      expect(tooLong.body.errors.map((e: { field: string }) => e.field)).toEqual(['wait']);
    } finally {
      await lambdaLike.close();
    }
  });
});

/** Sends `request` on a fresh connection and returns every byte the server sent until it closed. */
function rawExchange(base: string, request: string): Promise<Buffer> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(Number(url.port), url.hostname, () => socket.write(request));
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}
