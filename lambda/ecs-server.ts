import type { AddressInfo } from 'node:net';
import { createHttpServer } from '../src/server/http-server';
import { startSweeper } from '../src/server/sweeper';
import { createApi } from '../src/api';
import { logger } from './shared/logger';
import { dependenciesFromEnvironment } from './shared/runtime';

/**
 * The gateway server in AWS (ECS Fargate): the API with the same AWS dependencies as the Lambda
 * functions (DynamoDB table, KMS or Secrets Manager CA key, from the task's environment) served
 * by src/server's HTTP server, plus the expiry sweep loop. No admin token: in AWS, admins go
 * through API Gateway with IAM; the fleets use their host credentials here.
 * `gateway serve` is the local-mode equivalent (DynamoDB Local, a CA key in a file).
 */
export function main(env: NodeJS.ProcessEnv = process.env): { listening: Promise<number>; stop(): Promise<void> } {
  const port = Number(env.PORT ?? '8080');
  const deps = dependenciesFromEnvironment(env);
  const api = createApi(deps);
  const server = createHttpServer(api, { maxBodyBytes: 64 * 1024 });
  const listening = new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, env.HOST ?? '0.0.0.0', () => {
      const bound = (server.address() as AddressInfo).port;
      logger.info('gateway server listening', { port: bound });
      resolve(bound);
    });
  });
  const sweeper = startSweeper({
    store: deps.store,
    clock: () => new Date(),
    intervalMs: Number(env.SWEEP_INTERVAL_MS ?? '60000'),
    onError: (err) => logger.error('sweep failed', { error: err.message }),
  });
  return {
    listening,
    async stop() {
      api.close();
      await sweeper.stop();
      await new Promise<void>((done) => {
        server.close(() => done());
        server.closeAllConnections();
      });
    },
  };
}

if (require.main === module) {
  const running = main();
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.once(signal, () => {
      logger.info('stopping', { signal });
      running.stop().then(() => process.exit(0), () => process.exit(1));
    });
  }
}
