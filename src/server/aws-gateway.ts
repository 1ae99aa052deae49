import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type ApiSettings, createApi, DEFAULT_API_SETTINGS, GatewayStore, type NodeVerifier, type Signer } from '../api';
import { ALL_ROUTES } from '../api/route-groups/all';
import { lineLogger, serveApi } from './api-server';

export interface AwsGatewayOptions {
  /** The stack's table, used as it is: it must exist and hold the network record (the stack's CA init writes it). */
  readonly tableName: string;
  /** The CA key (KMS or Secrets Manager); asked for its public key on first signing. */
  readonly signer: Signer;
  /** The next CA key, for a CA rotation (KMS or Secrets Manager). Without it, starting a rotation answers 409. */
  readonly nextSigner?: Signer;
  /** Signs the proxies' access tokens; must not be the CA key. Without it, POST /v1/access-tokens answers 501. */
  readonly tokenSigner?: Signer;
  /** Region, credentials and endpoint from the environment when absent (AWS_ENDPOINT_URL_DYNAMODB included). */
  readonly client?: DynamoDBClient;
  /** TCP port; 0 picks a free one. @default 0 */
  readonly port?: number;
  /** @default '127.0.0.1' */
  readonly host?: string;
  readonly certificateLifetimeSeconds?: number;
  readonly enrollmentTokenTtlSeconds?: number;
  readonly clock?: () => Date;
  /** @default 60000 */
  readonly sweepIntervalMs?: number;
  readonly settings?: Partial<ApiSettings>;
  readonly nodeVerifier?: NodeVerifier;
  /** One line per event; never given a secret. @default stderr */
  readonly log?: (line: string) => void;
  /**
   * Where agents are told to watch their config: this service's name as environments reach it
   * (the NLB's TLS listener, e.g. `https://watch.<domain>:8443`; the CLI reads GATEWAY_WATCH_URL).
   * @default none: agents then poll API Gateway
   */
  readonly watchUrl?: string;
}

export interface RunningAwsGateway {
  readonly url: string;
  readonly tableName: string;
  readonly store: GatewayStore;
  /** Stops accepting requests, ends long-polls and stops the sweep. */
  stop(): Promise<void>;
}

/** The table, or its network record, is not what the stack deploys. */
export class AwsGatewayError extends Error {
  override readonly name = 'AwsGatewayError';
}

/**
 * `gateway serve --aws` as a function: the ECS container's gateway. The same API, HTTP server and
 * sweep as local mode, on the stack's DynamoDB table (never created or initialised here: the
 * stack owns it) with the CA key in KMS or Secrets Manager. No admin token: plain HTTP carries no
 * IAM identity, so the admin routes answer 401 here and admins use API Gateway with IAM.
 */
export async function startAwsGateway(options: AwsGatewayOptions): Promise<RunningAwsGateway> {
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const clock = options.clock ?? (() => new Date());
  const client = options.client ?? new DynamoDBClient({});
  try {
    const store = new GatewayStore({ client, tableName: options.tableName });
    await checkNetwork(store);
    if (options.tokenSigner) await checkTokenKey(options.signer, options.tokenSigner);
    const settings: ApiSettings = {
      ...DEFAULT_API_SETTINGS,
      ...options.settings,
      ...(options.certificateLifetimeSeconds !== undefined ? { certificateLifetimeSeconds: options.certificateLifetimeSeconds } : {}),
      ...(options.enrollmentTokenTtlSeconds !== undefined ? { enrollmentTokenTtlSeconds: options.enrollmentTokenTtlSeconds } : {}),
    };
    const api = () =>
      createApi(
        {
          store,
          signer: options.signer,
          nextSigner: options.nextSigner,
          tokenSigner: options.tokenSigner,
          settings: { ...settings, ...(options.watchUrl ? { watchUrl: options.watchUrl } : {}) },
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
    return {
      url: served.url,
      tableName: options.tableName,
      store,
      async stop() {
        await served.stop();
        if (!options.client) client.destroy();
      },
    };
  } catch (err) {
    if (!options.client) client.destroy();
    throw err;
  }
}

/** Fails the start, rather than every request, when the table is missing or was never initialised. */
async function checkNetwork(store: GatewayStore): Promise<void> {
  let network;
  try {
    network = await store.getNetwork();
  } catch (err) {
    throw new AwsGatewayError(`cannot read table ${store.tableName}: ${(err as Error).message}`);
  }
  if (!network) throw new AwsGatewayError(`table ${store.tableName} holds no network record; the stack's CA init writes it on deploy`);
}

/** A token signature must never be usable as a certificate signature (see token-signing-key.ts). */
async function checkTokenKey(signer: Signer, tokenSigner: Signer): Promise<void> {
  const [ca, token] = await Promise.all([signer.publicKey(), tokenSigner.publicKey()]);
  if (Buffer.from(ca).equals(Buffer.from(token))) {
    throw new AwsGatewayError('the access token signing key is the CA key; give it a key of its own');
  }
}
