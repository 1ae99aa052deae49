/**
 * A 60 s long-poll (the longest `?wait=`) is not cut by Node's HTTP server timeouts (keep-alive,
 * headers, request): the watcher gets its 304 on the same connection, which then serves the next
 * request. One raw connection, so what the client sees is exactly what the server sent.
 */
import { connect, type Socket } from 'node:net';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

describe('long-poll and Node HTTP timeouts', () => {
  let gw: TestGateway;
  afterAll(() => gw?.close());

  it('holds a ?wait=60 request for its whole wait and keeps the connection for the next one', async () => {
    gw = await startTestGateway();
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
    socket.write(request('?wait=60'));
    const first = await Promise.race([nextResponseHead(socket), closed]);
    const heldMs = Date.now() - startedAt;
    expect(first).toMatch(/^HTTP\/1\.1 304 /);
    // The server answered because the wait ran out, not earlier (nothing changed meanwhile).
    expect(heldMs).toBeGreaterThanOrEqual(59_000);
    socket.write(request(''));
    expect(await Promise.race([nextResponseHead(socket), closed])).toMatch(/^HTTP\/1\.1 304 /);
    socket.destroy();
  }, 90_000);
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
