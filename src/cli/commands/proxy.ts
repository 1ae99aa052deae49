import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadAccessTokenPublicKey } from '../../mesh/access-token';
import {
  checkTlsPair,
  DEFAULT_ROUTE_CACHE_MAX_AGE_MS,
  DEFAULT_TLS_RELOAD_INTERVAL_MS,
  FileRouteSource,
  FileTlsSource,
  HttpRouteSource,
  ProxyServer,
  ROUTE_CACHE_FILE,
  RouteCache,
  secretArnRegion,
  SecretsManagerTlsSource,
  TlsPairError,
  TlsReloader,
  TlsSourceError,
  type ProxyServerOptions,
  type RouteSource,
  type TlsSource,
} from '../../proxy';
import type { AccessLog } from '../../proxy/access-log';
import { DEFAULT_NEW_CONNECTIONS_BURST, DEFAULT_NEW_CONNECTIONS_PER_SECOND } from '../../proxy/connection-limits';
import { type CliIO, type CommandImpl, parseFlags, required, UsageError } from '../command';

const usage = `Usage: gateway proxy --domain D (--tls-cert FILE --tls-key FILE | --tls-secret ARN) --routes FILE|URL --token-public-key FILE [flags]

Serves https://<port>--<hostId>.<domain> from the environments' overlay addresses.

  --domain D                   the proxied domain (host names are <port>--<hostId>.<domain>)
  --tls-cert FILE              PEM certificate chain for *.<domain>
  --tls-key FILE               PEM private key for it
  --tls-secret ARN             instead of the files: a Secrets Manager secret (full ARN) holding
                               {"certificate": "<PEM chain>", "privateKey": "<PEM key>"}
  --tls-reload DUR             read the certificate source again this often, and on SIGHUP (default 15m);
                               a changed, valid pair (key matches, in date, covers *.<domain>) serves new
                               connections, open ones keep theirs; an invalid one is logged and refused
  --routes FILE|URL            route table: a JSON file (watched) or the control plane's /v1/routes URL
  --token-public-key FILE      Ed25519 public key that verifies access tokens (PUBLIC KEY or NEBULA ED25519 PUBLIC KEY PEM)
  --listen ADDR                host:port to listen on (default 0.0.0.0:443)
  --state-dir DIR              with a /v1/routes URL: keep the last good route table in DIR/routes.json (0600) and
                               serve it when the proxy starts while the control plane is unreachable
  --routes-max-age DUR         never serve a saved table the control plane last confirmed longer ago (default 24h)
  --access-log off|stdout      JSON line per request (default stdout)
  --idle-timeout DUR           idle keep-alive connection lifetime (default 75s)
  --websocket-idle-timeout DUR idle WebSocket lifetime (default 2h)
  --headers-timeout DUR        time allowed for a request head to arrive (default 30s)
  --upstream-timeout DUR       longest silence from an environment mid-request (default 120s)
  --connect-timeout DUR        time to connect to an environment before 502 (default 10s)
  --max-header-size BYTES      largest request head, else 431 (default 16384)
  --max-connections-per-ip N   requests and tunnels in progress at once per client IPv4 address or IPv6 /64; idle connections do not count (default 256)
  --max-connections N          open client connections in all; at the cap the longest idle one is closed (default 16384)
  --first-request-timeout DUR  time to finish the TLS handshake and send a first request head (default 10s)
  --new-connections-per-second N
                               new connections per client IPv4 address or IPv6 /64 per second once its burst is
                               spent; more are closed before the TLS handshake (default ${DEFAULT_NEW_CONNECTIONS_PER_SECOND})
  --new-connections-burst N    new connections per client IPv4 address or IPv6 /64 at once (default ${DEFAULT_NEW_CONNECTIONS_BURST})

Durations: 90s, 5m, 2h, or milliseconds (1500ms). The environment variable GATEWAY_ROUTES_TOKEN,
when set, is sent as a Bearer credential with route table requests: a proxy host's own credential
(gwh_…, from its agent's agent.json) with --routes 'https://<gateway>/v1/routes?host=<proxyHostId>',
or the admin token.
`;

/** `gateway proxy`: runs the TLS-terminating proxy until SIGINT or SIGTERM. */
export const proxyCommand: CommandImpl = {
  usage,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, {
      domain: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'tls-secret': { type: 'string' },
      'tls-reload': { type: 'string' },
      routes: { type: 'string' },
      'token-public-key': { type: 'string' },
      listen: { type: 'string' },
      'access-log': { type: 'string' },
      'idle-timeout': { type: 'string' },
      'websocket-idle-timeout': { type: 'string' },
      'headers-timeout': { type: 'string' },
      'upstream-timeout': { type: 'string' },
      'connect-timeout': { type: 'string' },
      'max-header-size': { type: 'string' },
      'max-connections-per-ip': { type: 'string' },
      'max-connections': { type: 'string' },
      'first-request-timeout': { type: 'string' },
      'new-connections-per-second': { type: 'string' },
      'new-connections-burst': { type: 'string' },
      'state-dir': { type: 'string' },
      'routes-max-age': { type: 'string' },
    });
    const domain = required(flags, 'domain');
    if (!/^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i.test(domain)) {
      throw new UsageError(`flag --domain: '${domain}' is not a DNS name`);
    }
    const tlsSource = tlsSourceOf(flags);
    const tlsReloadMs = optionalDuration(flags, 'tls-reload') ?? DEFAULT_TLS_RELOAD_INTERVAL_MS;
    let tls;
    let tlsInfo;
    try {
      tls = await tlsSource.read();
      tlsInfo = checkTlsPair(tls, domain, new Date());
    } catch (err) {
      throw new UsageError(`flag --${tlsFlagOf(flags, err)}: ${(err as Error).message}`);
    }
    const routesArg = required(flags, 'routes');
    const tokenKeyPath = required(flags, 'token-public-key');
    const tokenKeyText = readFlagFile('token-public-key', tokenKeyPath);
    let tokenPublicKey;
    try {
      tokenPublicKey = loadAccessTokenPublicKey(tokenKeyText);
    } catch (err) {
      throw new UsageError(`flag --token-public-key: ${(err as Error).message}`);
    }
    const { host, port } = parseListen(flags.listen ?? '0.0.0.0:443');
    const fromApi = /^https?:\/\//.test(routesArg);
    const stateDir = flags['state-dir'];
    if (stateDir !== undefined && !fromApi) throw new UsageError('flag --state-dir: only with a /v1/routes URL in --routes (a route file is its own copy)');
    const maxAgeMs = optionalDuration(flags, 'routes-max-age') ?? DEFAULT_ROUTE_CACHE_MAX_AGE_MS;
    let cache: RouteCache | undefined;
    if (typeof stateDir === 'string') {
      try {
        mkdirSync(stateDir, { recursive: true, mode: 0o700 });
      } catch (err) {
        throw new UsageError(`flag --state-dir: cannot create ${stateDir}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
      }
      cache = new RouteCache(join(stateDir, ROUTE_CACHE_FILE), maxAgeMs);
    }
    const routes: RouteSource = fromApi
      ? new HttpRouteSource(routesArg, {
          headers: io.env.GATEWAY_ROUTES_TOKEN ? { authorization: `Bearer ${io.env.GATEWAY_ROUTES_TOKEN}` } : undefined,
          cache,
        })
      : new FileRouteSource(routesArg);
    const logMode = flags['access-log'] ?? 'stdout';
    if (logMode !== 'stdout' && logMode !== 'off') throw new UsageError(`flag --access-log must be 'stdout' or 'off'`);
    const options: ProxyServerOptions = {
      domain,
      tls,
      routes,
      tokenPublicKey,
      accessLog: logMode === 'off' ? discard : undefined,
      onError: (err) => io.stderr.write(`gateway proxy: ${err.message}\n`),
      idleTimeoutMs: optionalDuration(flags, 'idle-timeout'),
      webSocketIdleTimeoutMs: optionalDuration(flags, 'websocket-idle-timeout'),
      headersTimeoutMs: optionalDuration(flags, 'headers-timeout'),
      upstreamTimeoutMs: optionalDuration(flags, 'upstream-timeout'),
      connectTimeoutMs: optionalDuration(flags, 'connect-timeout'),
      maxHeaderBytes: optionalInteger(flags, 'max-header-size'),
      maxConnectionsPerIp: optionalInteger(flags, 'max-connections-per-ip'),
      maxConnections: optionalInteger(flags, 'max-connections'),
      firstRequestTimeoutMs: optionalDuration(flags, 'first-request-timeout'),
      newConnectionsPerSecond: optionalInteger(flags, 'new-connections-per-second'),
      newConnectionsBurst: optionalInteger(flags, 'new-connections-burst'),
    };
    const server = new ProxyServer(options);
    const reloader = new TlsReloader(
      { source: tlsSource, domain, apply: (pair) => server.setTls(pair), log: (line) => io.stderr.write(`gateway proxy: ${line}\n`), intervalMs: tlsReloadMs },
      tls,
      tlsInfo,
    );
    const address = await server.listen(port, host);
    io.stderr.write(`gateway proxy: listening on ${address.address}:${address.port} for *.${domain} with certificate ${tlsInfo.fingerprint} (valid until ${tlsInfo.notAfter.toISOString()})\n`);
    reloader.start();
    const reload = () => void reloader.reload();
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      process.on('SIGHUP', reload);
    });
    process.off('SIGHUP', reload);
    reloader.stop();
    await server.close();
    return 0;
  },
};

const discard: AccessLog = { write() {} };

/** The certificate source the flags name: both files, or the secret; never both. */
function tlsSourceOf(flags: Record<string, unknown>): TlsSource {
  const secret = flags['tls-secret'];
  if (typeof secret === 'string') {
    if (flags['tls-cert'] !== undefined || flags['tls-key'] !== undefined) throw new UsageError('flag --tls-secret: give either it or --tls-cert and --tls-key, not both');
    if (secretArnRegion(secret) === undefined) throw new UsageError(`flag --tls-secret: expected a Secrets Manager secret ARN (arn:aws:secretsmanager:<region>:<account>:secret:<name>), got '${secret}'`);
    return new SecretsManagerTlsSource(secret);
  }
  return new FileTlsSource(required(flags, 'tls-cert'), required(flags, 'tls-key'));
}

/** The flag a certificate problem at start belongs to. */
function tlsFlagOf(flags: Record<string, unknown>, err: unknown): string {
  if (typeof flags['tls-secret'] === 'string') return 'tls-secret';
  const keyProblem = (err instanceof TlsSourceError && err.part === 'key') || (err instanceof TlsPairError && err.problem === 'unreadable-key');
  return keyProblem ? 'tls-key' : 'tls-cert';
}

function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    throw new UsageError(`flag --${flag}: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) throw new UsageError(`flag --listen: expected host:port, got '${text}'`);
  return { host: m[1] ?? (m[2] || '0.0.0.0'), port };
}

/** Parses `1500ms`, `90s`, `5m`, `2h` into milliseconds. */
export function parseDuration(flag: string, text: string): number {
  const m = /^(\d+)(ms|s|m|h)$/.exec(text);
  if (!m) throw new UsageError(`flag --${flag}: expected a duration such as 90s, 5m or 2h, got '${text}'`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  const ms = Number(m[1]) * unit;
  if (ms <= 0) throw new UsageError(`flag --${flag}: must be more than zero`);
  return ms;
}

function optionalDuration(flags: Record<string, unknown>, name: string): number | undefined {
  const v = flags[name];
  return typeof v === 'string' ? parseDuration(name, v) : undefined;
}

function optionalInteger(flags: Record<string, unknown>, name: string): number | undefined {
  const v = flags[name];
  if (typeof v !== 'string') return undefined;
  if (!/^[1-9]\d{0,8}$/.test(v)) throw new UsageError(`flag --${name}: expected a positive integer, got '${v}'`);
  return Number(v);
}
