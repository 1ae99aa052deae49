import { existsSync, readFileSync } from 'node:fs';
import { collectStatus } from '../../agent/status-collect';
import { formatStatus } from '../../agent/status';
import { DEFAULT_FALLBACK_POLL_MS, DEFAULT_KEY_ROTATION_DAYS, type LogFormat, createLogger, enrollHost, runAgent } from '../../agent';
import { type CliIO, type CommandImpl, UsageError, parseFlags, required } from '../command';

function logFormat(value: unknown): LogFormat {
  if (value === undefined || value === 'text') return 'text';
  if (value === 'json') return 'json';
  throw new UsageError(`flag --log-format must be text or json, not '${String(value)}'`);
}

function positiveSeconds(values: Record<string, unknown>, name: string, fallback: number, max = Infinity): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || n > max) throw new UsageError(`flag --${name} must be a number of seconds between 0 and ${max}`);
  return n;
}

function readApiCa(path: unknown): string | undefined {
  if (path === undefined) return undefined;
  try {
    return readFileSync(String(path), 'utf8');
  } catch (err) {
    throw new UsageError(`flag --api-ca: cannot read ${String(path)}: ${(err as Error).message}`);
  }
}

function rotationDays(raw: unknown): number {
  if (raw === undefined) return DEFAULT_KEY_ROTATION_DAYS;
  const n = Number(raw);
  if (String(raw).trim() === '' || !Number.isFinite(n) || n < 0) throw new UsageError(`flag --key-rotation-days must be a number of days, 0 or more, not '${String(raw)}'`);
  return n;
}

function enrollmentToken(flag: string | undefined, env: NodeJS.ProcessEnv): string {
  if (flag !== undefined) return flag;
  const fromEnv = env.GATEWAY_ENROLL_TOKEN;
  if (fromEnv === undefined || fromEnv === '') throw new UsageError('flag --token is required (or the token in GATEWAY_ENROLL_TOKEN)');
  return fromEnv;
}

export const agentEnrollCommand: CommandImpl = {
  usage: `Usage: gateway agent enroll --api URL --token TOKEN --dir DIR [--api-ca FILE] [--log-format text|json]

Makes the host's X25519 key pair in DIR (host.key, mode 0600; only the public key is sent), enrolls
with the one-time token, and writes ca.crt, host.crt, config.yml (nebula -config DIR/config.yml runs
as is) and agent.json (the host credential, 0600). A failed request is retried with the same key.

  --api URL          the gateway's API, e.g. https://gateway.example.com
  --token TOKEN      the enrollment token (gwe_…) from POST /v1/hosts; without the flag, the
                     token in GATEWAY_ENROLL_TOKEN (kept out of the process list, which every
                     user of the machine can read)
  --dir DIR          where the key, certificate and config go (created 0700)
  --api-ca FILE      extra CA certificates (PEM) to trust for an https API
  --log-format F     text (default) or json; json also sets nebula's logging.format
`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, {
      api: { type: 'string' },
      token: { type: 'string' },
      dir: { type: 'string' },
      'api-ca': { type: 'string' },
      'log-format': { type: 'string' },
    });
    const api = required(flags, 'api');
    try {
      new URL(api);
    } catch {
      throw new UsageError(`flag --api must be a URL, not '${api}'`);
    }
    const format = logFormat(flags['log-format']);
    await enrollHost({
      api,
      token: enrollmentToken(flags.token, io.env),
      dir: required(flags, 'dir'),
      apiCa: readApiCa(flags['api-ca']),
      logFormat: flags['log-format'] === undefined ? undefined : format,
      logger: createLogger(format, io.stderr),
    });
    return 0;
  },
};

export const agentRunCommand: CommandImpl = {
  usage: `Usage: gateway agent run --dir DIR [--nebula PATH] [--log-format text|json] [--wait S] [--backoff-max S]

Starts nebula -config DIR/config.yml (or adopts the one in DIR/nebula.pid), long-polls the API for
config changes and reloads nebula (SIGHUP) or restarts it for changes it cannot reload, renews the
certificate at two thirds of its life. SIGTERM/SIGINT stop the agent and the nebula it started.
Exits 3 when the API refuses the host (revoked or unknown).

  --dir DIR          the directory 'gateway agent enroll' wrote
  --nebula PATH      the nebula binary (default: nebula on PATH)
  --log-format F     text (default) or json; json also sets nebula's logging.format
  --wait S           long-poll length asked of the API, seconds (default 55, at most 60)
  --backoff-max S    longest wait between retries while the API is unreachable (default 30)
  --fallback-poll S  how often the API is polled while the watch endpoint is down (default 300, ±25%)
  --key-rotation-days D  a renewal makes a new host key once the key is D days old; 0: at every
                     renewal (default ${DEFAULT_KEY_ROTATION_DAYS}). The old key's certificate is blocklisted once nebula runs on the new one.
                     SIGUSR2 renews at once with a new key (a key that may have leaked).
`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, {
      dir: { type: 'string' },
      nebula: { type: 'string' },
      'log-format': { type: 'string' },
      wait: { type: 'string' },
      'backoff-max': { type: 'string' },
      'fallback-poll': { type: 'string' },
      'key-rotation-days': { type: 'string' },
    });
    const dir = required(flags, 'dir');
    const format = logFormat(flags['log-format']);
    const waitSeconds = positiveSeconds(flags, 'wait', 55, 60);
    const capMs = positiveSeconds(flags, 'backoff-max', 30) * 1000;
    const fallbackPollMs = positiveSeconds(flags, 'fallback-poll', DEFAULT_FALLBACK_POLL_MS / 1000) * 1000;
    const keyRotationDays = rotationDays(flags['key-rotation-days']);
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once('SIGTERM', onSignal);
    process.once('SIGINT', onSignal);
    let rotate: (() => void) | undefined;
    const onRotate = () => rotate?.();
    process.on('SIGUSR2', onRotate);
    try {
      return await runAgent({
        dir,
        nebulaBinary: typeof flags.nebula === 'string' ? flags.nebula : undefined,
        logFormat: flags['log-format'] === undefined ? undefined : format,
        logger: createLogger(format, io.stderr),
        waitSeconds,
        backoff: { baseMs: Math.min(500, capMs), capMs },
        fallbackPollMs,
        keyRotationDays,
        onKeyRotationRequest: (listener) => {
          rotate = listener;
        },
        signal: stop.signal,
      });
    } finally {
      process.off('SIGTERM', onSignal);
      process.off('SIGINT', onSignal);
      process.off('SIGUSR2', onRotate);
    }
  },
};

/** Where `agent status` looks without --dir: the directory the README's enroll and run use. */
const DEFAULT_AGENT_DIR = '/etc/nebula';

export const agentStatusCommand: CommandImpl = {
  usage: `Usage: gateway agent status [--dir DIR] [--json] [--ssh PATH]

Shows what this host's nebula is doing, from nebula itself (its console on 127.0.0.1, reached with
the key the agent made in DIR/console; needs the OpenSSH client): per peer, its overlay IP and
certificate name, whether the tunnel is direct (and to which underlay address) or relayed (and
through which relay), the last completed handshake (from DIR/nebula.log) and how long the peer's
certificate has left; then this host's certificate life, whether nebula runs (pid), and the config
the agent last installed (when, and its sha256). Run it as the agent's user (root).

  --dir DIR          the agent's directory (default ${DEFAULT_AGENT_DIR})
  --json             one JSON document instead of the table
  --ssh PATH         the OpenSSH client (default: ssh on PATH)
`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const flags = parseFlags(argv, { dir: { type: 'string' }, json: { type: 'boolean' }, ssh: { type: 'string' } });
    const dir = typeof flags.dir === 'string' ? flags.dir : DEFAULT_AGENT_DIR;
    if (dir === '') throw new UsageError('flag --dir must name a directory');
    if (!existsSync(dir)) throw new UsageError(`flag --dir: ${dir} does not exist`);
    const status = await collectStatus({ dir, sshBinary: typeof flags.ssh === 'string' ? flags.ssh : undefined });
    io.stdout.write(flags.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status, new Date()));
    return status.nebula.running && !status.peersUnavailable ? 0 : 1;
  },
};
