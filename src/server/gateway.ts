import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { mkdir } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type Api,
  type ApiSettings,
  createApi,
  DEFAULT_API_SETTINGS,
  DEFAULT_NETWORK_POLICY,
  ensureTable,
  GatewayStore,
  hashSecret,
  Ipv4Cidr,
  type NodeVerifier,
  parseEgressRoutes,
} from '../api';
import { ALL_ROUTES } from '../api/route-groups/all';
import { loadOrCreateAdminToken } from './admin-token';
import { embeddedDynamoDbClient, endpointDynamoDbClient } from './dynamodb-client';
import { type DynamoDbLocal, startDynamoDbLocal } from './dynamodb-local';
import { lineLogger, serveApi } from './api-server';
import { loadOrCreateLocalCa, rollLocalCaKeys } from './local-ca';
import { loadOrCreateTokenSigningKey } from './token-signing-key';

export const DEFAULT_OVERLAY_CIDR = '10.42.0.0/16';
export const DEFAULT_TABLE_NAME = 'nebula-gateway';
export const DEFAULT_DATA_DIR = '.gateway';

export interface GatewayOptions {
  /** TCP port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  /** CA key, access token signing key, admin token and (embedded) DynamoDB data. @default '.gateway' */
  readonly dataDir?: string;
  /** The overlay network on first start; on later starts it must match the stored one if given. @default 10.42.0.0/16 */
  readonly overlayCidr?: string;
  /**
   * The networks environments reach through egress nodes (IPv4 CIDRs), set on first start; on a
   * later start, given and different, they replace the stored ones. @default none
   */
  readonly egressRoutes?: readonly string[];
  readonly certificateLifetimeSeconds?: number;
  readonly enrollmentTokenTtlSeconds?: number;
  /**
   * Use this DynamoDB instead of starting DynamoDB Local. Region and credentials as the SDK finds
   * them; where none are configured, local-only ones (see endpointDynamoDbClient).
   */
  readonly dynamodbEndpoint?: string;
  /** @default 'nebula-gateway' */
  readonly tableName?: string;
  /** Environment for GATEWAY_ADMIN_TOKEN. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Injectable clock (tests). */
  readonly clock?: () => Date;
  /** @default 60000 */
  readonly sweepIntervalMs?: number;
  readonly settings?: Partial<ApiSettings>;
  readonly nodeVerifier?: NodeVerifier;
  /** One line per event; never given a secret. @default stderr */
  readonly log?: (line: string) => void;
  /** Where agents are told to watch their config. @default this server's own URL */
  readonly watchUrl?: string;
}

export interface RunningGateway {
  readonly url: string;
  readonly adminToken: string;
  /** Where the admin token is kept; undefined when it came from GATEWAY_ADMIN_TOKEN. */
  readonly adminTokenPath?: string;
  /** `<dataDir>/token-signing.key`: signs the proxies' access tokens (not the CA key). */
  readonly tokenSigningKeyPath: string;
  readonly dataDir: string;
  readonly tableName: string;
  readonly store: GatewayStore;
  /** Stops accepting requests, ends long-polls, stops the sweep and the embedded DynamoDB Local. */
  stop(): Promise<void>;
}

/**
 * `gateway serve` as a function: the store (DynamoDB Local under `<dataDir>/dynamodb` unless an
 * endpoint is given), the table, the local CA, the network record, the admin token, the HTTP
 * server and the sweep. Restarting on the same data dir keeps every host, lease and token.
 */
export async function startGateway(options: GatewayOptions = {}): Promise<RunningGateway> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = options.clock ?? (() => new Date());
  const dataDir = resolve(options.dataDir ?? DEFAULT_DATA_DIR);
  const tableName = options.tableName ?? DEFAULT_TABLE_NAME;
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  const cleanups: (() => Promise<void>)[] = [];
  const cleanup = async () => {
    for (const step of cleanups.splice(0).reverse()) await step().catch(() => undefined);
  };
  try {
    let client: DynamoDBClient;
    if (options.dynamodbEndpoint) {
      client = await endpointDynamoDbClient(options.dynamodbEndpoint);
    } else {
      const dbPath = join(dataDir, 'dynamodb');
      await mkdir(dbPath, { recursive: true, mode: 0o700 });
      const ddb: DynamoDbLocal = await startDynamoDbLocal({ dbPath });
      cleanups.push(() => ddb.stop());
      client = embeddedDynamoDbClient(ddb.endpoint);
    }
    cleanups.push(async () => client.destroy());
    await ensureTable(client, tableName);
    const store = new GatewayStore({ client, tableName });
    if (await rollLocalCaKeys(dataDir, (await store.getNetwork())?.caBundle)) log('CA rotation completed: ca-next.key is now ca.key (the retired key is kept as ca-retired-*.key)');
    const ca = await loadOrCreateLocalCa(dataDir, 'nebula-gateway local CA', clock());
    await initialiseNetwork(store, ca.certificate, options.overlayCidr, options.egressRoutes);
    const admin = await loadOrCreateAdminToken(dataDir, options.env ?? process.env);
    const tokenKey = await loadOrCreateTokenSigningKey(dataDir, ca.certificate.details.publicKey);
    const settings: ApiSettings = {
      ...DEFAULT_API_SETTINGS,
      ...options.settings,
      ...(options.certificateLifetimeSeconds !== undefined ? { certificateLifetimeSeconds: options.certificateLifetimeSeconds } : {}),
      ...(options.enrollmentTokenTtlSeconds !== undefined ? { enrollmentTokenTtlSeconds: options.enrollmentTokenTtlSeconds } : {}),
    };
    const api = (url: string): Api =>
      createApi(
        {
          store,
          signer: ca.signer,
          nextSigner: ca.nextSigner,
          tokenSigner: tokenKey.signer,
          adminTokenHash: hashSecret(admin.token),
          settings: { ...settings, watchUrl: settings.watchUrl ?? options.watchUrl ?? url },
          clock,
          nodeVerifier: options.nodeVerifier,
          logger: lineLogger(log),
        },
        ALL_ROUTES,
      );
    const served = await serveApi({
      api,
      store,
      port: options.port ?? 0,
      host: options.host ?? '127.0.0.1',
      maxBodyBytes: settings.maxBodyBytes,
      longPollMaxSeconds: settings.longPollMaxSeconds,
      clock,
      sweepIntervalMs: options.sweepIntervalMs ?? 60_000,
      log,
    });
    cleanups.push(() => served.stop());
    return {
      url: served.url,
      adminToken: admin.token,
      adminTokenPath: admin.path,
      tokenSigningKeyPath: tokenKey.path,
      dataDir,
      tableName,
      store,
      stop: cleanup,
    };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Writes the network record on first start; afterwards checks the data dir's CA is the network's. */
async function initialiseNetwork(
  store: GatewayStore,
  ca: { toPem(): string; fingerprint(): string },
  overlayCidr: string | undefined,
  egressRoutes: readonly string[] | undefined,
): Promise<void> {
  const overlay = Ipv4Cidr.parse(overlayCidr ?? DEFAULT_OVERLAY_CIDR, 'overlay-cidr');
  const cidr = overlay.toString();
  const routes = egressRoutes === undefined ? undefined : parseEgressRoutes([...egressRoutes], overlay, 'egress-route');
  const network = await store.initNetwork({
    cidr,
    caBundle: ca.toPem(),
    policy: { ...DEFAULT_NETWORK_POLICY },
    egressRoutes: routes ?? [],
    createdAt: new Date().toISOString(),
  });
  if (routes !== undefined && routes.join(',') !== (network.egressRoutes ?? []).join(',')) await store.setEgressRoutes(routes);
  if (overlayCidr !== undefined && network.cidr !== cidr) {
    throw new Error(`the network in the table is ${network.cidr}, not ${cidr}; a network's CIDR cannot change`);
  }
  if (!network.caBundle.includes(ca.toPem().trim())) {
    throw new Error(`the network in the table does not trust this data dir's CA (${ca.fingerprint()}); wrong --data-dir or --table?`);
  }
}
