import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type GatewayOptions, type RunningGateway, startGateway } from '../../src/server';
import { dropTable, dynamoDbEndpoint, testDynamoClient, uniqueTableName } from './dynamodb';

export interface TestGateway extends RunningGateway {
  /** A clock the test can move: `advance(ms)`. */
  readonly clock: MovableClock;
  /** Stops the gateway, drops its table and removes its data dir. */
  close(): Promise<void>;
}

export interface MovableClock {
  (): Date;
  advance(ms: number): void;
}

export function movableClock(): MovableClock {
  let offset = 0;
  const clock = (() => new Date(Date.now() + offset)) as MovableClock;
  clock.advance = (ms: number) => {
    offset += ms;
  };
  return clock;
}

/**
 * `gateway serve` in-process on a free loopback port, against the run's DynamoDB Local with a
 * table of its own and a temporary data dir (its own CA and admin token).
 */
export async function startTestGateway(options: Partial<GatewayOptions> = {}): Promise<TestGateway> {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-test-'));
  const tableName = options.tableName ?? uniqueTableName('gw');
  const clock = movableClock();
  const gateway = await startGateway({
    port: 0,
    dataDir,
    tableName,
    dynamodbEndpoint: dynamoDbEndpoint(),
    clock,
    env: {},
    log: () => undefined,
    ...options,
  });
  return {
    ...gateway,
    clock,
    async close() {
      await gateway.stop();
      const client = testDynamoClient();
      await dropTable(client, tableName);
      client.destroy();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface HttpResult<T = any> {
  status: number;
  headers: Headers;
  body: T;
  text: string;
}

/** A small JSON client for the gateway's API. */
export function apiClient(baseUrl: string) {
  return async function call<T = any>(
    method: string,
    path: string,
    options: { token?: string; body?: unknown; rawBody?: string | Buffer; headers?: Record<string, string>; signal?: AbortSignal } = {},
  ): Promise<HttpResult<T>> {
    const headers: Record<string, string> = { ...options.headers };
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    let body: string | Buffer | undefined = options.rawBody;
    if (options.body !== undefined) {
      body = JSON.stringify(options.body);
      headers['content-type'] = 'application/json';
    }
    const response = await fetch(`${baseUrl}${path}`, { method, headers, body, signal: options.signal });
    const text = await response.text();
    let parsed: unknown = undefined;
    if (text && /json/.test(response.headers.get('content-type') ?? '')) parsed = JSON.parse(text);
    return { status: response.status, headers: response.headers, body: parsed as T, text };
  };
}
