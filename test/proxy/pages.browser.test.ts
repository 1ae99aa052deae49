import { createHash, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { mintAccessToken } from '../../src/mesh/access-token';
import { proxyHostName, type RouteTable } from '../../src/mesh/routes';
import { MemoryAccessLog } from '../../src/proxy/access-log';
import type { RouteSource } from '../../src/proxy/route-source';
import { ProxyServer } from '../../src/proxy/server';
import { describeNeeding } from '../support/prerequisites';
import { BrowserPage } from './browser';
import { makeTlsFixture, tempDir, testSigner } from './support';

/**
 * The proxy's pages as a person sees them: a real ProxyServer on loopback, headless Chromium
 * (Debian's) that trusts the test certificate by its public key (a genuine secure context, so
 * `__Host-` cookies and SameSite behave as in production), every `*.test.local` name mapped to
 * 127.0.0.1. Each page is screenshotted (PNGs under a temp dir, path printed) and checked by
 * what the DOM shows. `test.local` is one registrable domain, as a company's domain would be:
 * to the browser, all environments are same-site.
 */

const DOMAIN = 'test.local';
const ALICE = { subject: 'alice', organization: 'acme' };
const BOB = { subject: 'bob', organization: 'acme' };
const MALLORY = { subject: 'mallory', organization: 'acme' };

/** A route source the test can change, as the control plane would. */
class SettableRoutes implements RouteSource {
  private onTable: ((table: RouteTable) => void) | undefined;
  constructor(private table: RouteTable) {}
  start(onTable: (table: RouteTable) => void): void {
    this.onTable = onTable;
    onTable(this.table);
  }
  set(table: RouteTable): void {
    this.table = table;
    this.onTable?.(table);
  }
  async close(): Promise<void> {}
}

/** An application page (what an environment serves); records the requests that reach it. */
function startApp(name: string, seen: string[]): Promise<Server> {
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    req.resume();
    req.on('end', () => {
      seen.push(`${name} ${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
      res.end(`<!doctype html><title>${name}</title><h1>${name} app</h1>`);
    });
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const portOf = (s: Server) => (s.address() as AddressInfo).port;

/** The little of the DOM that the functions run in the page use (the project compiles against Node's types only). */
interface PageElement {
  name: string;
  value: string;
  method: string;
  action: string;
  innerText: string;
  outerHTML: string;
  append(...nodes: PageElement[]): void;
  click(): void;
  submit(): void;
}
declare function getComputedStyle(element: PageElement): { maxWidth: string };
declare const document: {
  body: PageElement;
  documentElement: PageElement;
  createElement(tag: string): PageElement;
  querySelector(selector: string): PageElement | null;
};

/** Runs in the page: submits a form that POSTs `amount=100` to `target`. */
function postForm(target: string): void {
  const form = document.createElement('form');
  form.method = 'POST';
  form.action = target;
  const field = document.createElement('input');
  field.name = 'amount';
  field.value = '100';
  form.append(field);
  document.body.append(form);
  form.submit();
}

describeNeeding(['chromium', 'openssl'])('proxy pages in headless Chromium', () => {
  const tmp = tempDir('proxy-pages-');
  const shots = join(tmp.dir, 'screenshots');
  const tls = makeTlsFixture(tmp.dir, DOMAIN);
  const keys = testSigner();
  const seen: string[] = [];
  let apps: { priv: Server; team: Server; pub: Server; mallory: Server };
  let deadPort: number;
  let routes: SettableRoutes;
  let proxy: ProxyServer;
  let proxyPort: number;
  let page: BrowserPage;
  const tokens: Record<string, string> = {};

  const url = (port: number, path = '/', hostId = 'h-alice') => `https://${proxyHostName(port, hostId, DOMAIN)}:${proxyPort}${path}`;
  const table = (teamAccess: 'organization' | 'private'): RouteTable => ({
    version: teamAccess,
    routes: [
      {
        hostId: 'h-alice',
        ip: '127.0.0.1',
        owner: ALICE,
        ports: [
          { port: portOf(apps.priv), access: 'private', protocol: 'http' },
          { port: portOf(apps.team), access: teamAccess, protocol: 'http' },
          { port: portOf(apps.pub), access: 'public', protocol: 'http' },
          { port: deadPort, access: 'public', protocol: 'http' },
        ],
      },
      { hostId: 'h-mallory', ip: '127.0.0.1', owner: MALLORY, ports: [{ port: portOf(apps.mallory), access: 'public', protocol: 'http' }] },
    ],
  });

  /** Saves a screenshot of the current page; returns the text a person sees. */
  async function capture(name: string): Promise<string> {
    const file = join(shots, `${name}.png`);
    await page.screenshot(file);
    expect(readFileSync(file).subarray(1, 4).toString()).toBe('PNG');
    return page.text();
  }

  beforeAll(async () => {
    mkdirSync(shots);
    apps = { priv: await startApp('private', seen), team: await startApp('team', seen), pub: await startApp('public', seen), mallory: await startApp('mallory', seen) };
    const dead = createServer();
    await new Promise<void>((r) => dead.listen(0, '127.0.0.1', () => r()));
    deadPort = portOf(dead as Server);
    await new Promise((r) => dead.close(r));
    routes = new SettableRoutes(table('organization'));
    proxy = new ProxyServer({ domain: DOMAIN, tls: { cert: tls.cert, key: tls.key }, routes, tokenPublicKey: keys.publicKey, accessLog: new MemoryAccessLog() });
    await proxy.ready();
    proxyPort = (await proxy.listen(0, '127.0.0.1')).port;
    for (const [name, principal] of Object.entries({ alice: ALICE, bob: BOB })) {
      tokens[name] = await mintAccessToken({ signer: keys.signer, principal, ttlSeconds: 600 });
    }
    const spki = createHash('sha256').update(new X509Certificate(tls.cert).publicKey.export({ type: 'spki', format: 'der' })).digest('base64');
    page = await BrowserPage.launch({
      userDataDir: join(tmp.dir, 'profile'),
      viewport: { width: 900, height: 700 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--host-resolver-rules=MAP * 127.0.0.1',
        `--ignore-certificate-errors-spki-list=${spki}`,
      ],
    });
    console.log(`proxy page screenshots: ${shots}`);
  });

  afterAll(async () => {
    await page?.close();
    await proxy?.close();
    for (const s of Object.values(apps ?? {})) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
    // Kept for a person to look at when asked to; removed otherwise.
    if (process.env.KEEP_SCREENSHOTS !== '1') tmp.cleanup();
  });

  it('401: says how to get access, and that an expired token has expired', async () => {
    const reply = await page.goto(url(portOf(apps.priv), '/dashboard'));
    expect(reply.status).toBe(401);
    const text = await capture('401');
    expect(text).toContain('An access token is needed');
    expect(text).toContain(`?gateway_token=<token>`);
    expect(text).toContain('Authorization: Bearer <token>');
    expect(text).toContain('X-Gateway-Token: <token>');
    expect(text).toContain('POST /v1/access-tokens');
    expect(text).not.toMatch(/dashboard/i);
    // The page's one style sheet applied: its CSP hash is right (a wrong one would leave it unstyled).
    expect(await page.evaluate(() => getComputedStyle(document.body).maxWidth, null)).toBe('640px');

    const expired = await mintAccessToken({ signer: keys.signer, principal: ALICE, ttlSeconds: 60, now: new Date(Date.now() - 3600_000) });
    const again = await page.goto(url(portOf(apps.priv), `/?gateway_token=${expired}`));
    expect(again?.status).toBe(401);
    const expiredText = await capture('401-expired');
    expect(expiredText).toContain('Your access token has expired');
    expect(await page.evaluate(() => document.documentElement.outerHTML, null)).not.toContain(expired.split('.')[2]);
  });

  it('a cross-port fetch() to a private port of the same environment sees the 401, not a network error', async () => {
    await page.goto(url(portOf(apps.pub), '/'));
    const result = await page.evaluate(async (target: string) => {
      try {
        const res = await fetch(target, { credentials: 'include' });
        return `status ${res.status}`;
      } catch (err) {
        return `error ${(err as Error).message}`;
      }
    }, url(portOf(apps.priv), '/api'));
    expect(result).toBe('status 401');
  });

  it('403: says who you are signed in as, and signing out clears the cookie', async () => {
    // Bob of acme may use the team port while it is open to the organization: he gets a cookie.
    const opened = await page.goto(url(portOf(apps.team), `/?gateway_token=${tokens.bob}`));
    expect(opened?.status).toBe(200);
    expect(opened.url).toBe(url(portOf(apps.team), '/'));
    expect((await page.cookies()).map((c) => c.name)).toContain('__Host-gateway-token');
    // Then Alice makes the port private.
    routes.set(table('private'));
    const refused = await page.reload();
    expect(refused?.status).toBe(403);
    const text = await capture('403');
    expect(text).toContain('You are signed in here as bob of the organization acme');
    expect(text).toContain("open to the environment's owner only");

    await page.navigateBy(() => document.querySelector('button')!.click(), null);
    const signedOut = await capture('signed-out');
    expect(signedOut).toContain('Signed out');
    expect((await page.cookies()).map((c) => c.name)).not.toContain('__Host-gateway-token');
    const back = await page.navigateBy(() => document.querySelector('a[href="/"]')!.click(), null);
    expect(back.status).toBe(401);
    expect(await page.text()).toContain('An access token is needed');
  });

  it('a page on another environment cannot POST with the cookie, or open a WebSocket, to a private port', async () => {
    // Alice signs in to her private port (the cookie is host-only, HttpOnly, SameSite=Lax).
    const signedIn = await page.goto(url(portOf(apps.priv), `/?gateway_token=${tokens.alice}`));
    expect(signedIn?.status).toBe(200);
    // A page of Mallory's environment: same site to the browser, so Lax sends the cookie along.
    await page.goto(url(portOf(apps.mallory), '/', 'h-mallory'));
    const before = seen.length;
    const socket = await page.evaluate(
      (target: string) =>
        new Promise<string>((resolve) => {
          const ws = new WebSocket(target);
          ws.onopen = () => resolve('open');
          ws.onerror = () => resolve('refused');
        }),
      url(portOf(apps.priv), '/ws').replace('https:', 'wss:'),
    );
    expect(socket).toBe('refused');
    const attack = await page.navigateBy(postForm, url(portOf(apps.priv), '/transfer'));
    expect(attack.status).toBe(403);
    const text = await capture('403-cross-site');
    expect(text).toContain('Request from another site refused');
    expect(seen.slice(before).filter((s) => s.startsWith('private'))).toEqual([]);

    // The same form on one of Alice's own pages goes through.
    await page.goto(url(portOf(apps.pub), '/'));
    const own = await page.navigateBy(postForm, url(portOf(apps.priv), '/transfer'));
    expect(own.status).toBe(200);
    expect(await page.text()).toContain('private app');
    expect(seen).toContain('private POST /transfer');
  });

  it('404 and 502 pages say what is wrong and what usually causes it', async () => {
    const missing = await page.goto(url(4444, '/', 'h-nobody'));
    expect(missing?.status).toBe(404);
    const notFound = await capture('404');
    expect(notFound).toContain(`Nothing is published at ${proxyHostName(4444, 'h-nobody', DOMAIN)}`);
    expect(notFound).toContain('https://<port>--<environment id>.<domain>');

    const down = await page.goto(url(deadPort, '/'));
    expect(down?.status).toBe(502);
    const badGateway = await capture('502');
    expect(badGateway).toContain(`not answering on port ${deadPort}`);
    expect(badGateway).toContain('127.0.0.1');
    expect(badGateway).toContain('0.0.0.0');
    writeFileSync(join(shots, 'done'), '');
  });
});
