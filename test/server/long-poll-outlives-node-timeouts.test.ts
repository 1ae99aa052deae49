/**
 * A long-poll of the longest `?wait=` is not cut by Node's HTTP server timeouts (keep-alive,
 * headers, request), which the server sets around that longest wait (src/server/http-server.ts):
 * the watcher gets its 304 on the same connection, which then serves the next request, also after
 * lying idle for as long as a poll. The
 * longest wait is configured down from 60 s to 3 s here, so the same property holds in seconds
 * (the timeouts scale with it, and Node checks them at least every quarter of the wait). One raw
 * connection, so what the client sees is exactly what the server sent.
 */
import { connect, type Socket } from 'node:net';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { httpServerTimeouts } from '../../src/server/http-server';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

const LONGEST_WAIT_SECONDS = 3;

describe('long-poll and Node HTTP timeouts', () => {
  let gw: TestGateway;
  afterAll(() => gw?.close());

  it('derives the timeouts from the longest wait: 65 s, 66 s and 120 s around the default 60 s', () => {
    expect(httpServerTimeouts(60)).toEqual({ keepAliveMs: 65_000, headersMs: 66_000, requestMs: 120_000, checkIntervalMs: 15_000 });
    expect(httpServerTimeouts(600).checkIntervalMs).toBe(30_000);
  });

  it('holds a request for the longest wait and keeps the connection for the next one', async () => {
    gw = await startTestGateway({ settings: { longPollMaxSeconds: LONGEST_WAIT_SECONDS } });
    const call = apiClient(gw.url);
    const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'patient', role: 'environment' } });
    const enrolled = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    const path = `/v1/hosts/${created.body.host.id}/config`;
    const etag = (await call('GET', path, { token: enrolled.body.credential })).headers.get('etag')!;

    const url = new URL(gw.url);
    const socket = connect(Number(url.port), url.hostname);
    const closed = new Promise<string>((done) => socket.once('close', () => done('closed')));
    const request = (wait: string) => `GET ${path}${wait} HTTP/1.1\r\nHost: gw\r\nAuthorization: Bearer ${enrolled.body.credential}\r\nIf-None-Match: ${etag}\r\n\r\n`;
    const startedAt = Date.now();
    socket.write(request(`?wait=${LONGEST_WAIT_SECONDS}`));
    const first = await Promise.race([nextResponseHead(socket), closed]);
    const heldMs = Date.now() - startedAt;
    expect(first).toMatch(/^HTTP\/1\.1 304 /);
    // Held for the whole wait (nothing changed meanwhile): a lower bound the server sets, not a speed.
    expect(heldMs).toBeGreaterThanOrEqual(LONGEST_WAIT_SECONDS * 1000 - 5);
    socket.write(request(''));
    expect(await Promise.race([nextResponseHead(socket), closed])).toMatch(/^HTTP\/1\.1 304 /);
    // Idle between requests for as long as a poll: the keep-alive timeout outlasts that too.
    await new Promise((resolve) => setTimeout(resolve, LONGEST_WAIT_SECONDS * 1000));
    socket.write(request(''));
    expect(await Promise.race([nextResponseHead(socket), closed])).toMatch(/^HTTP\/1\.1 304 /);
    socket.destroy();
  });
});

function nextResponseHead(socket: Socket): Promise<string> {
  return new Promise((resolve) => {
    let text = '';
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (text.includes('\r\n\r\n')) {
        socket.off('data', onData);
        resolve(text);
      }
    };
    socket.on('data', onData);
  });
}
