import { Ipv4Cidr, MeshError } from '../../mesh';
import { parseGoDuration } from '../../pki';
import { DEFAULT_DATA_DIR, DEFAULT_OVERLAY_CIDR, DEFAULT_TABLE_NAME, startGateway } from '../../server';
import { type CliIO, type CommandImpl, parseFlags, UsageError } from '../command';

const usage = `Usage: gateway serve [flags]

Runs the gateway locally: the v1 HTTP API, DynamoDB Local (or an existing DynamoDB) and a local CA.

  --port N                 TCP port (default 8080)
  --host ADDR              address to listen on (default 127.0.0.1)
  --data-dir DIR           CA key, admin token and DynamoDB data (default ${DEFAULT_DATA_DIR}/)
  --overlay-cidr CIDR      overlay network, fixed on first start (default ${DEFAULT_OVERLAY_CIDR})
  --cert-lifetime DUR      host certificate lifetime, e.g. 24h, 90m (default 24h)
  --token-ttl DUR          enrollment token lifetime (default 1h)
  --dynamodb-endpoint URL  use this DynamoDB instead of starting DynamoDB Local
  --table NAME             table name (default ${DEFAULT_TABLE_NAME})

The admin token is written to <data-dir>/admin-token (mode 0600) unless GATEWAY_ADMIN_TOKEN is set.
Stops cleanly on SIGINT or SIGTERM.
`;

/** `gateway serve`: the local gateway until SIGINT/SIGTERM. */
export const serveCommand: CommandImpl = {
  usage,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, {
      port: { type: 'string' },
      host: { type: 'string' },
      'data-dir': { type: 'string' },
      'overlay-cidr': { type: 'string' },
      'cert-lifetime': { type: 'string' },
      'token-ttl': { type: 'string' },
      'dynamodb-endpoint': { type: 'string' },
      table: { type: 'string' },
    });
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
    const certLifetime = seconds(flags['cert-lifetime'], 'cert-lifetime', 60);
    const tokenTtl = seconds(flags['token-ttl'], 'token-ttl', 60);
    const gateway = await startGateway({
      port,
      host: flags.host ?? '127.0.0.1',
      dataDir: flags['data-dir'] ?? DEFAULT_DATA_DIR,
      overlayCidr: flags['overlay-cidr'],
      certificateLifetimeSeconds: certLifetime,
      enrollmentTokenTtlSeconds: tokenTtl,
      dynamodbEndpoint: flags['dynamodb-endpoint'],
      tableName: flags.table,
      env: io.env,
      log: (line) => io.stderr.write(`${line}\n`),
    });
    io.stdout.write(`gateway listening on ${gateway.url}\n`);
    io.stdout.write(
      gateway.adminTokenPath
        ? `admin token: in ${gateway.adminTokenPath} (send it as Authorization: Bearer <token>)\n`
        : 'admin token: from GATEWAY_ADMIN_TOKEN\n',
    );
    await new Promise<void>((done) => {
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
    await gateway.stop();
    io.stdout.write('gateway stopped\n');
    return 0;
  },
};

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
