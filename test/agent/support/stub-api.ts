import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { stringify, parse } from 'yaml';
import { renderNebulaConfig } from '../../../src/mesh';
import { createCA, generateEd25519KeyPair, LocalSigner, type NebulaCertificate, parseX25519PublicKeyPem, signCertificate } from '../../../src/pki';

/**
 * A stand-in for the gateway's HTTP API that a test can steer (fail the next requests, go down,
 * change the config, revoke the host), so the agent's failure handling can be driven precisely.
 * Certificates and configs are the real thing: signed by src/pki, rendered by src/mesh.
 * The full gateway is exercised by test/e2e.
 */
export class StubApi {
  readonly enrollKeys: string[] = [];
  renewals = 0;
  configRequests = 0;
  /** Status codes to answer the next enroll requests with, before succeeding. */
  enrollFailures: number[] = [];
  /** Certificate lifetime in seconds. */
  lifetimeSeconds = 3600;
  blocklist: string[] = [];
  listenPort = 0;
  /** Public keys renewals asked for (key rotations). */
  readonly renewKeys: string[] = [];
  /** Fingerprints the agent said are in use (`certificate-in-use`). */
  readonly inUse: string[] = [];
  /** Drop `certificate-in-use` requests (as if the API went away right after the renewal). */
  inUseDown = false;
  private down = false;
  private revoked = false;
  private publicKey?: Uint8Array;
  private certificate?: NebulaCertificate;
  private waiters = new Set<() => void>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    private readonly ca: NebulaCertificate,
    private readonly signer: LocalSigner,
    readonly url: string,
  ) {}

  static async start(): Promise<StubApi> {
    const signer = new LocalSigner(generateEd25519KeyPair().privateKey);
    const ca = await createCA({ signer, name: 'stub-ca', duration: '2h' });
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const stub = new StubApi(server, ca, signer, `http://127.0.0.1:${(server.address() as AddressInfo).port}`);
    server.on('connection', (s) => {
      stub.sockets.add(s);
      s.on('close', () => stub.sockets.delete(s));
    });
    server.on('request', (req, res) => void stub.handle(req, res));
    return stub;
  }

  readonly hostId = 'h-stub1';
  readonly credential = 'gwh_stubcredential';
  readonly token = 'gwe_stubtoken';

  get fingerprint(): string | undefined {
    return this.certificate?.fingerprint();
  }

  /** While down, every connection is dropped (as if the gateway were unreachable). */
  setDown(down: boolean): void {
    this.down = down;
    if (down) for (const s of this.sockets) s.destroy();
  }

  /** The config changed: wake long-polls. */
  changed(): void {
    for (const wake of [...this.waiters]) wake();
  }

  /** The gateway issued a new certificate on its own (e.g. after a lifetime change). */
  async reissue(): Promise<void> {
    await this.issue();
    this.changed();
  }

  revoke(): void {
    this.revoked = true;
    this.changed();
  }

  async stop(): Promise<void> {
    this.changed();
    for (const s of this.sockets) s.destroy();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.down) return void req.socket.destroy();
    const body = await new Promise<string>((resolve) => {
      let text = '';
      req.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve(text));
    });
    const url = new URL(req.url ?? '/', this.url);
    if (req.method === 'POST' && url.pathname === '/v1/enroll') {
      const failure = this.enrollFailures.shift();
      if (failure) return this.send(res, failure, { title: 'try later' });
      const input = JSON.parse(body) as { token: string; publicKey: string };
      this.enrollKeys.push(input.publicKey);
      if (input.token !== this.token) return this.send(res, 401, { title: 'Not authenticated' });
      this.publicKey = parseX25519PublicKeyPem(input.publicKey);
      await this.issue();
      return this.send(res, 200, { ...this.material(), credential: this.credential });
    }
    if (req.headers.authorization !== `Bearer ${this.credential}` || this.revoked) return this.send(res, 401, { title: 'Not authenticated' });
    if (req.method === 'POST' && url.pathname === `/v1/hosts/${this.hostId}/renew`) {
      this.renewals++;
      const input = (body ? JSON.parse(body) : {}) as { publicKey?: string };
      if (input.publicKey) {
        this.renewKeys.push(input.publicKey);
        this.publicKey = parseX25519PublicKeyPem(input.publicKey);
      }
      await this.issue();
      this.changed();
      return this.send(res, 200, this.material());
    }
    if (req.method === 'POST' && url.pathname === `/v1/hosts/${this.hostId}/certificate-in-use`) {
      if (this.inUseDown) return void req.socket.destroy();
      this.inUse.push((JSON.parse(body) as { fingerprint: string }).fingerprint);
      return this.send(res, 200, { retired: [] });
    }
    if (req.method === 'GET' && url.pathname === `/v1/hosts/${this.hostId}/config`) {
      this.configRequests++;
      const wait = Number(url.searchParams.get('wait') ?? 0);
      if (req.headers['if-none-match'] === this.etag() && wait > 0) {
        await new Promise<void>((resolve) => {
          const wake = () => {
            clearTimeout(timer);
            this.waiters.delete(wake);
            resolve();
          };
          const timer = setTimeout(wake, wait * 1000);
          this.waiters.add(wake);
        });
        if (this.down) return void req.socket.destroy();
        if (this.revoked) return this.send(res, 401, { title: 'Not authenticated' });
      }
      if (req.headers['if-none-match'] === this.etag()) {
        res.writeHead(304, { etag: this.etag() }).end();
        return;
      }
      return this.send(res, 200, this.material(), { etag: this.etag() });
    }
    this.send(res, 404, { title: 'Not found' });
  }

  private async issue(): Promise<void> {
    const now = new Date();
    this.certificate = await signCertificate({
      ca: this.ca,
      signer: this.signer,
      name: 'stub-host',
      ips: ['10.50.0.5/16'],
      groups: ['environment'],
      publicKey: this.publicKey as Uint8Array,
      notBefore: now,
      notAfter: new Date(now.getTime() + this.lifetimeSeconds * 1000),
    });
  }

  /** The API's config, with the tun device disabled so nebula runs without root or a namespace. */
  private material() {
    const cert = this.certificate as NebulaCertificate;
    const rendered = parse(
      renderNebulaConfig({ role: 'environment', ca: this.ca.toPem(), certificate: cert.toPem(), lighthouses: [], blocklist: this.blocklist, policy: { environmentsReachEachOther: false }, listenPort: this.listenPort }),
      { version: '1.1' },
    );
    rendered.tun.disabled = true;
    // The stub is its own watch endpoint, as a local gateway is.
    return { hostId: this.hostId, certificate: cert.toPem(), ca: this.ca.toPem(), config: stringify(rendered, { version: '1.1' }), expiresAt: cert.details.notAfter.toISOString(), watchUrl: this.url };
  }

  private etag(): string {
    return `"${createHash('sha256').update(JSON.stringify(this.material())).digest('hex').slice(0, 16)}"`;
  }

  private send(res: ServerResponse, status: number, body: object, headers: Record<string, string> = {}): void {
    const type = status >= 400 ? 'application/problem+json' : 'application/json';
    res.writeHead(status, { 'content-type': type, ...headers }).end(JSON.stringify(status >= 400 ? { type: 'about:blank', status, detail: '', ...body } : body));
  }
}
