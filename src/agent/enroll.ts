import { existsSync, readFileSync } from 'node:fs';
import { ApiClient, ApiError } from './api-client';
import { writeFileAtomic } from './atomic-file';
import { type BackoffPolicy, DEFAULT_BACKOFF, backoffDelay } from './backoff';
import { generateHostKeyPair, publicKeyPemFor } from './keys';
import type { AgentLogger, LogFormat } from './logger';
import { sleep } from './sleep';
import { AgentStateError, agentPaths, ensureDirectory, prepareConfig, writeIdentity, writePreparedConfig } from './state-dir';

export interface EnrollOptions {
  readonly api: string;
  readonly token: string;
  readonly dir: string;
  readonly apiCa?: string;
  /** Also sets nebula's `logging.format`. */
  readonly logFormat?: LogFormat;
  readonly logger: AgentLogger;
  /** Attempts before giving up on an unreachable API or a 5xx. @default 8 */
  readonly maxAttempts?: number;
  readonly backoff?: BackoffPolicy;
  readonly signal?: AbortSignal;
}

/**
 * Enrolls this host: makes its X25519 key pair here (or reuses the key a failed earlier run left,
 * so a retry with the same token gets the same host back), sends only the public key with the
 * token, and writes the CA, certificate, config.yml and, last, agent.json with the credential.
 * Network failures and 5xx are retried with the same token and key.
 */
export async function enrollHost(options: EnrollOptions): Promise<{ hostId: string; ip: string; expiresAt: string }> {
  const paths = agentPaths(options.dir);
  ensureDirectory(paths);
  if (existsSync(paths.identity)) throw new AgentStateError(`${paths.dir} is already enrolled (agent.json exists); use a new directory to enroll again`);
  let publicKeyPem: string;
  if (existsSync(paths.key)) {
    publicKeyPem = publicKeyPemFor(readFileSync(paths.key, 'utf8'));
    options.logger.log('info', 'host_key_reused', { path: paths.key });
  } else {
    const pair = generateHostKeyPair();
    writeFileAtomic(paths.key, pair.privateKeyPem, 0o600);
    publicKeyPem = pair.publicKeyPem;
    options.logger.log('info', 'host_key_generated', { path: paths.key });
  }
  const client = new ApiClient({ baseUrl: options.api, caPem: options.apiCa });
  const maxAttempts = options.maxAttempts ?? 8;
  for (let attempt = 0; ; attempt++) {
    try {
      const result = await client.enroll(options.token, publicKeyPem, options.signal);
      const prepared = prepareConfig(paths, result, { logFormat: options.logFormat });
      writePreparedConfig(paths, prepared);
      writeIdentity(paths, { api: options.api, hostId: result.hostId, credential: result.credential, apiCa: options.apiCa, watchUrl: result.watchUrl });
      options.logger.log('info', 'enrolled', { hostId: result.hostId, ip: prepared.certificateIp, expiresAt: result.expiresAt, dir: paths.dir });
      return { hostId: result.hostId, ip: prepared.certificateIp, expiresAt: result.expiresAt };
    } catch (err) {
      const retriable = (err as { retriable?: boolean }).retriable === true && !options.signal?.aborted;
      if (!retriable || attempt + 1 >= maxAttempts) {
        options.logger.log('error', 'enroll_failed', { error: (err as Error).message, status: err instanceof ApiError ? err.status : undefined });
        throw err;
      }
      const delayMs = backoffDelay(attempt, options.backoff ?? DEFAULT_BACKOFF);
      options.logger.log('warn', 'enroll_retry', { error: (err as Error).message, attempt: attempt + 1, delayMs });
      await sleep(delayMs, options.signal);
    }
  }
}
