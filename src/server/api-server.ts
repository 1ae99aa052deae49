import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Api, ApiLogger, GatewayStore } from '../api';
import { createHttpServer } from './http-server';
import { startSweeper } from './sweeper';

export interface ApiServerOptions {
  /** Makes the API once the server listens, given the server's own URL (local mode tells agents to watch it). */
  readonly api: (url: string) => Api;
  /** Swept for expired revocations and ended quarantines every `sweepIntervalMs`. */
  readonly store: GatewayStore;
  readonly port: number;
  readonly host: string;
  readonly maxBodyBytes: number;
  /** The longest `?wait=` a request may be held: the HTTP server's timeouts are set around it. */
  readonly longPollMaxSeconds: number;
  readonly clock: () => Date;
  readonly sweepIntervalMs: number;
  readonly log: (line: string) => void;
}

export interface ApiServer {
  readonly url: string;
  /** Stops accepting requests, ends long-polls and stops the sweep. */
  stop(): Promise<void>;
}

/**
 * Pending connections the kernel queues before the server accepts them: a reconnect storm of
 * thousands of watchers arrives within a second (Linux caps it at net.core.somaxconn).
 */
const LISTEN_BACKLOG = 16_384;

/** What both modes of `gateway serve` run once their dependencies exist: the HTTP server and the sweep loop. */
export async function serveApi(options: ApiServerOptions): Promise<ApiServer> {
  let api: Api | undefined;
  const server = createHttpServer((request) => (api as Api)(request), { maxBodyBytes: options.maxBodyBytes, longPollMaxSeconds: options.longPollMaxSeconds });
  await new Promise<void>((done, fail) => {
    server.once('error', fail);
    server.listen({ port: options.port, host: options.host, backlog: LISTEN_BACKLOG }, () => {
      server.off('error', fail);
      done();
    });
  });
  const address = server.address() as AddressInfo;
  const hostPart = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `http://${hostPart}:${address.port}`;
  // Requests are handled only after this callback's tick, so none can find the API missing.
  api = options.api(url);
  const sweeper = startSweeper({
    store: options.store,
    clock: options.clock,
    intervalMs: options.sweepIntervalMs,
    onError: (err) => options.log(`sweep failed: ${err.message}`),
    api,
    log: options.log,
  });
  return {
    url,
    async stop() {
      await sweeper.stop();
      await closeServer(server, api as Api);
    },
  };
}

/** Stops accepting, answers waiting long-polls (304), then closes what is left after a grace second. */
function closeServer(server: Server, api: Api): Promise<void> {
  return new Promise<void>((done) => {
    server.close(() => done());
    api.close();
    server.closeIdleConnections();
    setTimeout(() => server.closeAllConnections(), 1000).unref();
  });
}

/** The API's logger as JSON lines through `log`. */
export function lineLogger(log: (line: string) => void): ApiLogger {
  const line = (level: string, message: string, fields?: Record<string, unknown>) =>
    log(JSON.stringify({ time: new Date().toISOString(), level, message, ...fields }));
  return { info: (m, f) => line('info', m, f), error: (m, f) => line('error', m, f) };
}
