import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../src/cli/main';
import { startTestGateway, type TestGateway } from './gateway';

/** An in-memory `CliIO`: what a command writes lands in `out`; `env` is all it sees of the environment. */
export function captureIo(env: NodeJS.ProcessEnv = {}) {
  const out = { stdout: '', stderr: '' };
  const io = { stdout: { write: (s: string) => (out.stdout += s) }, stderr: { write: (s: string) => (out.stderr += s) }, env };
  return { out, io };
}

/** Runs `gateway ...argv` in-process with `env`, and answers its exit status and output. */
export function gatewayCli(env: NodeJS.ProcessEnv = {}) {
  return async (...argv: string[]): Promise<{ status: number; stdout: string; stderr: string }> => {
    const { out, io } = captureIo(env);
    const status = await main(argv, io);
    return { status, ...out };
  };
}

export interface LocalAdminGateway {
  /** The running gateway (DynamoDB Local, loopback), once `beforeAll` has run. */
  readonly gw: () => TestGateway;
  /** The admin commands' connection flags for it: `--api URL --token-file FILE` (its admin token, mode 0600). */
  readonly local: () => string[];
}

/** A local gateway for the admin commands' tests, started in `beforeAll` and closed in `afterAll`. */
export function localAdminGateway(tempPrefix: string): LocalAdminGateway {
  let gw: TestGateway | undefined;
  let dir: string | undefined;
  let tokenFile: string | undefined;
  beforeAll(async () => {
    gw = await startTestGateway();
    dir = await mkdtemp(join(tmpdir(), tempPrefix));
    tokenFile = join(dir, 'admin-token');
    await writeFile(tokenFile, `${gw.adminToken}\n`, { mode: 0o600 });
  });
  afterAll(async () => {
    await gw?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error('the local gateway starts in beforeAll: use it inside a test');
    return value;
  };
  return {
    gw: () => started(gw),
    local: () => ['--api', started(gw).url, '--token-file', started(tokenFile)],
  };
}
