import { Ipv4Cidr, MeshError } from '../../mesh';
import { parseGoDuration } from '../../pki';
import { checkWatchUrl, type GatewayStore, parseEgressRoutes } from '../../api';
import { loadAgentBundle } from '../../bootstrap/agent-bundle';
import { DEFAULT_DATA_DIR, DEFAULT_OVERLAY_CIDR, DEFAULT_TABLE_NAME, LOCAL_DYNAMODB_REGION, startAwsGateway, startGateway } from '../../server';
import { type CliIO, type CommandImpl, parseFlags, UsageError } from '../command';
import { type AwsKeyReference, awsSigner, parseAwsKeyReference } from './aws-keys';

const usage = `Usage: gateway serve [flags]

Runs the gateway: the v1 HTTP API and the expiry sweep. Locally (the default) with DynamoDB
Local (or an existing DynamoDB) and a CA key in a file; with --aws, as the ECS container does,
with the stack's DynamoDB table and the CA key in KMS or Secrets Manager.

  --port N                 TCP port (default 8080)
  --host ADDR              address to listen on (default 127.0.0.1)
  --data-dir DIR           CA key, admin token and DynamoDB data (default ${DEFAULT_DATA_DIR}/)
  --overlay-cidr CIDR      overlay network, fixed on first start (default ${DEFAULT_OVERLAY_CIDR})
  --egress-route CIDR      a network environments reach through egress nodes (repeatable); given,
                           the routes replace the stored ones (see docs/egress.md; default: kept)
  --cert-lifetime DUR      host certificate lifetime, e.g. 24h, 90m (default 24h)
  --token-ttl DUR          enrollment token lifetime (default 1h)
  --dynamodb-endpoint URL  use this DynamoDB instead of starting DynamoDB Local. Region and
                           credentials: yours where configured (AWS_REGION, AWS_DEFAULT_REGION,
                           keys or AWS_PROFILE in the environment, a profile in ~/.aws); where
                           none are, region ${LOCAL_DYNAMODB_REGION} and local-only credentials for
                           this client (enough for DynamoDB Local; instance roles are not asked)
  --table NAME             table name (default ${DEFAULT_TABLE_NAME})

The admin token is written to <data-dir>/admin-token (mode 0600) unless GATEWAY_ADMIN_TOKEN is set.
The embedded DynamoDB Local listens on 127.0.0.1 only, with telemetry off.

AWS mode (the container's command: gateway serve --aws --host 0.0.0.0):
  --aws                    use the stack's table and CA key; nothing is written to disk
  --table NAME             the stack's table, used as it is: never created, its network record
                           written by the stack's CA init (default: $TABLE_NAME)
  --ca-key kms:ARN|secret:ARN
                           the CA key: a KMS Ed25519 key or a Secrets Manager secret
                           (default: $CA_KEY_BACKEND:$CA_KEY_ARN, as the stack sets them)
  --next-ca-key kms:ARN|secret:ARN
                           the next CA key, for a CA rotation (docs/ca-rotation.md)
                           (default: $NEXT_CA_KEY_BACKEND:$NEXT_CA_KEY_ARN; without any,
                           POST /v1/network/ca-rotation answers 409)
  --token-key kms:ARN|secret:ARN
                           the proxies' access token signing key, not the CA key
                           (default: $TOKEN_KEY_BACKEND:$TOKEN_KEY_ARN; without any,
                           POST /v1/access-tokens answers 501)
  --port N                 default $PORT, else 8080
  --cert-lifetime DUR      default $CERT_LIFETIME_HOURS hours, else 24h
  $GATEWAY_WATCH_URL       where agents are told to watch their config: this service's TLS name
                           (e.g. https://watch.<domain>:8443); unset: agents poll API Gateway
Not with --aws: --data-dir, --overlay-cidr (the stack's), --dynamodb-endpoint (the SDK's
AWS_ENDPOINT_URL_DYNAMODB applies). Region and credentials come from the environment (the task
role in ECS). No admin token: the admin routes answer 401 here; admins call API Gateway with IAM.

Stops cleanly on SIGINT or SIGTERM.
`;

const FLAGS = {
  port: { type: 'string' },
  host: { type: 'string' },
  'data-dir': { type: 'string' },
  'overlay-cidr': { type: 'string' },
  'egress-route': { type: 'string', multiple: true },
  'cert-lifetime': { type: 'string' },
  'token-ttl': { type: 'string' },
  'dynamodb-endpoint': { type: 'string' },
  table: { type: 'string' },
  aws: { type: 'boolean' },
  'ca-key': { type: 'string' },
  'next-ca-key': { type: 'string' },
  'token-key': { type: 'string' },
} as const;

/** `gateway serve`: the gateway (local, or with --aws the container's) until SIGINT/SIGTERM. */
export const serveCommand: CommandImpl = {
  usage,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, FLAGS);
    if (flags.aws) return serveAws(flags, io);
    for (const flag of ['ca-key', 'next-ca-key', 'token-key'] as const) {
      if (flags[flag] !== undefined) throw new UsageError(`flag --${flag} needs --aws (local mode keeps its keys in --data-dir)`);
    }
    const port = flags.port === undefined ? 8080 : Number(flags.port);
    if (!Number.isInteger(port) || port < 0 || port > 65535) throw new UsageError('flag --port must be a port number 0..65535');
    if (flags.table !== undefined && !/^[A-Za-z0-9_.-]{3,255}$/.test(flags.table)) {
      throw new UsageError('flag --table must be 3-255 characters a-z, A-Z, 0-9, _, - or .');
    }
    if (flags['dynamodb-endpoint'] !== undefined && !/^https?:\/\/\S+$/.test(flags['dynamodb-endpoint'])) {
      throw new UsageError('flag --dynamodb-endpoint must be an http(s) URL');
    }
    if (flags['overlay-cidr'] !== undefined) {
      try {
        Ipv4Cidr.parse(flags['overlay-cidr'], 'overlay-cidr');
      } catch (err) {
        if (err instanceof MeshError) throw new UsageError(`flag --${err.message}`);
        throw err;
      }
    }
    const egressRoutes = flags['egress-route'];
    if (egressRoutes !== undefined) {
      try {
        parseEgressRoutes(egressRoutes, Ipv4Cidr.parse(flags['overlay-cidr'] ?? DEFAULT_OVERLAY_CIDR, 'overlay-cidr'), 'egress-route');
      } catch (err) {
        if (err instanceof MeshError) throw new UsageError(`flag --${err.message}`);
        throw err;
      }
    }
    const certLifetime = seconds(flags['cert-lifetime'], 'cert-lifetime', 60);
    const tokenTtl = seconds(flags['token-ttl'], 'token-ttl', 60);
    const gateway = await startGateway({
      port,
      host: flags.host ?? '127.0.0.1',
      dataDir: flags['data-dir'] ?? DEFAULT_DATA_DIR,
      overlayCidr: flags['overlay-cidr'],
      egressRoutes,
      certificateLifetimeSeconds: certLifetime,
      enrollmentTokenTtlSeconds: tokenTtl,
      dynamodbEndpoint: flags['dynamodb-endpoint'],
      tableName: flags.table,
      env: io.env,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`gateway listening on ${gateway.url}\n`);
    io.stdout.write(bootstrapLine(gateway.url));
    io.stdout.write(
      gateway.adminTokenPath
        ? `admin token: in ${gateway.adminTokenPath} (send it as Authorization: Bearer <token>)\n`
        : 'admin token: from GATEWAY_ADMIN_TOKEN\n',
    );
    await untilSignal(io);
    await gateway.stop();
    io.stdout.write('gateway stopped\n');
    return 0;
  },
};

/** How environments join this gateway, or why they cannot yet: the agent bundle GET /v1/agent/... serves. */
function bootstrapLine(url: string): string {
  try {
    const bundle = loadAgentBundle();
    if (!bundle) return 'no agent bundle yet: GET /v1/bootstrap answers 503 until `npm run build`\n';
    return `environments join with: curl -fsSL ${url}/v1/bootstrap | sudo sh -s -- --token-file FILE (agent ${bundle.fileName}; docs/bootstrap.md)\n`;
  } catch (err) {
    return `agent bundle unusable (${(err as Error).message}): run \`npm run build\`\n`;
  }
}

type ServeFlags = ReturnType<typeof parseFlags<typeof FLAGS>>;

/** `gateway serve --aws`: flags first, else the environment the stack gives the container. */
async function serveAws(flags: ServeFlags, io: CliIO): Promise<number> {
  const localOnly = {
    'data-dir': 'keeps nothing on disk',
    'overlay-cidr': "serves the stack's network",
    'egress-route': 'takes egress routes from the API (PUT /v1/network/egress-routes)',
    'dynamodb-endpoint': 'takes the endpoint from the SDK (AWS_ENDPOINT_URL_DYNAMODB)',
  } as const;
  for (const [flag, why] of Object.entries(localOnly)) {
    if (flags[flag as keyof typeof localOnly] !== undefined) throw new UsageError(`flag --${flag} is for local mode; --aws ${why}`);
  }
  const env = io.env;
  const port = portNumber(flags.port ?? env.PORT ?? '8080', flags.port === undefined && env.PORT !== undefined ? '--port (from PORT)' : '--port');
  const tableName = flags.table ?? env.TABLE_NAME;
  if (!tableName) throw new UsageError('flag --table is required with --aws (or set TABLE_NAME)');
  if (!/^[A-Za-z0-9_.-]{3,255}$/.test(tableName)) throw new UsageError('flag --table must be 3-255 characters a-z, A-Z, 0-9, _, - or .');
  const caKey = keyFrom(flags['ca-key'], env, 'ca-key', 'CA_KEY');
  if (!caKey) throw new UsageError('flag --ca-key is required with --aws (or set CA_KEY_BACKEND and CA_KEY_ARN)');
  const nextCaKey = keyFrom(flags['next-ca-key'], env, 'next-ca-key', 'NEXT_CA_KEY');
  if (nextCaKey && nextCaKey.arn === caKey.arn) throw new UsageError('flag --next-ca-key must not be the CA key (--ca-key)');
  const tokenKey = keyFrom(flags['token-key'], env, 'token-key', 'TOKEN_KEY');
  if (tokenKey && tokenKey.arn === caKey.arn) throw new UsageError('flag --token-key must not be the CA key (--ca-key)');
  const certLifetime =
    flags['cert-lifetime'] !== undefined
      ? seconds(flags['cert-lifetime'], 'cert-lifetime', 60)
      : env.CERT_LIFETIME_HOURS !== undefined
        ? hoursFromEnv(env.CERT_LIFETIME_HOURS)
        : undefined;
  const tokenTtl = seconds(flags['token-ttl'], 'token-ttl', 60);
  const gateway = await startAwsGateway({
    tableName,
    signer: awsSigner(caKey),
    nextSigner: nextCaKey && awsSigner(nextCaKey),
    tokenSigner: tokenKey && awsSigner(tokenKey),
    port,
    host: flags.host ?? '127.0.0.1',
    certificateLifetimeSeconds: certLifetime,
    enrollmentTokenTtlSeconds: tokenTtl,
    log: (line) => io.stderr.write(`${line}\n`),
    watchUrl: env.GATEWAY_WATCH_URL ? checkWatchUrl(env.GATEWAY_WATCH_URL, 'GATEWAY_WATCH_URL') : undefined,
  });
  const caExpiry = caExpiryReporter(env, gateway.store, io);
  io.stdout.write(`gateway listening on ${gateway.url}\n`);
  io.stdout.write(`table ${tableName}, CA key in ${caKey.backend === 'kms' ? 'KMS' : 'Secrets Manager'}; admin routes: through API Gateway with IAM only\n`);
  await untilSignal(io);
  await caExpiry?.stop();
  await gateway.stop();
  io.stdout.write('gateway stopped\n');
  return 0;
}

/** The stack names the CA expiry metric's namespace and network; without them nothing is reported. */
function caExpiryReporter(env: NodeJS.ProcessEnv, store: GatewayStore, io: CliIO): { stop(): Promise<void> } | undefined {
  const namespace = env.CA_EXPIRY_METRIC_NAMESPACE;
  const network = env.CA_EXPIRY_METRIC_NETWORK;
  if (!namespace || !network) return undefined;
  // Loaded only here: local mode never pays for the CloudWatch client.
  const { startCaExpiryReporter, cloudWatchCaExpirySink } = require('../../server/ca-expiry-metric') as typeof import('../../server/ca-expiry-metric');
  return startCaExpiryReporter({
    store,
    sink: cloudWatchCaExpirySink({ namespace, network }),
    clock: () => new Date(),
    log: (line) => io.stderr.write(`${line}\n`),
  });
}

function portNumber(text: string, flag: string): number {
  const port = Number(text);
  if (!/^\d+$/.test(text) || port > 65535) throw new UsageError(`flag ${flag} must be a port number 0..65535`);
  return port;
}

/** The key the flag names, else the one `<prefix>_BACKEND` and `<prefix>_ARN` name (as the stack's SigningKey sets them). */
function keyFrom(text: string | undefined, env: NodeJS.ProcessEnv, flag: string, prefix: string): AwsKeyReference | undefined {
  const backend = env[`${prefix}_BACKEND`];
  const arn = env[`${prefix}_ARN`];
  const fromEnv = backend || arn ? `${backend ?? ''}:${arn ?? ''}` : undefined;
  const value = text ?? fromEnv;
  if (value === undefined) return undefined;
  try {
    return parseAwsKeyReference(value);
  } catch (err) {
    const source = text === undefined ? ` (from ${prefix}_BACKEND/${prefix}_ARN)` : '';
    throw new UsageError(`flag --${flag}${source} ${(err as Error).message}`);
  }
}

function hoursFromEnv(text: string): number {
  const hours = Number(text);
  if (!Number.isInteger(hours) || hours < 1) throw new UsageError('flag --cert-lifetime (from CERT_LIFETIME_HOURS) must be a whole number of hours, at least 1');
  return hours * 3600;
}

/** Resolves on the first SIGINT or SIGTERM. */
function untilSignal(io: CliIO): Promise<void> {
  return new Promise<void>((done) => {
    const stop = (signal: string) => {
      process.off('SIGINT', onInt);
      process.off('SIGTERM', onTerm);
      io.stderr.write(`${signal}: stopping\n`);
      done();
    };
    const onInt = () => stop('SIGINT');
    const onTerm = () => stop('SIGTERM');
    process.once('SIGINT', onInt);
    process.once('SIGTERM', onTerm);
  });
}

function seconds(text: string | undefined, flag: string, min: number): number | undefined {
  if (text === undefined) return undefined;
  let ms: number;
  try {
    ms = parseGoDuration(text);
  } catch {
    throw new UsageError(`flag --${flag} must be a duration such as 24h, 90m or 1h30m`);
  }
  if (ms < min * 1000) throw new UsageError(`flag --${flag} must be at least ${min}s`);
  return Math.round(ms / 1000);
}
