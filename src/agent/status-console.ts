import { execFile } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from './atomic-file';

/**
 * nebula's debug console (its `sshd`), the agent's window on nebula's runtime state: the hostmap
 * (which tunnels exist, direct or through which relay, to which underlay address, with which
 * certificate) and the certificate nebula really runs. It listens on loopback only; its host key
 * and the one authorized client key are made here and live in `<dir>/console/` (0600), so only
 * whoever can read the agent's directory (which holds host.key anyway) can use it.
 */
export interface ConsoleSettings {
  /** `127.0.0.1:<port>`. */
  readonly listen: string;
  /** nebula's host key (OpenSSH format). */
  readonly hostKeyPath: string;
  /** The client key `gateway agent status` logs in with (OpenSSH format). */
  readonly clientKeyPath: string;
  /** `[127.0.0.1]:port ssh-ed25519 …`: the only host key the client accepts. */
  readonly knownHostsPath: string;
  /** The client's public key, `ssh-ed25519 …`: nebula's only authorized key. */
  readonly clientPublicKey: string;
}

/** The user the console knows; nebula's sshd has no other. */
export const CONSOLE_USER = 'gateway-agent';
/** Console ports are picked from here (below Linux's ephemeral range), from a hash of the directory. */
const PORT_BASE = 20000;
const PORT_SPAN = 10000;

export class ConsoleError extends Error {
  override readonly name = 'ConsoleError';
}

function consoleDir(dir: string): string {
  return join(dir, 'console');
}

/**
 * The console's settings for the agent directory `dir` (absolute), making its keys the first time.
 * The port is stable for a directory (hashed from its path) and kept in console.json, so every
 * config the agent writes names the same one.
 */
export function ensureConsole(dir: string): ConsoleSettings {
  const base = consoleDir(dir);
  const settingsPath = join(base, 'console.json');
  if (existsSync(settingsPath)) return readConsole(dir);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const host = ed25519OpenSsh();
  const client = ed25519OpenSsh();
  const port = PORT_BASE + (createHash('sha256').update(dir).digest().readUInt32BE(0) % PORT_SPAN);
  const settings: ConsoleSettings = {
    listen: `127.0.0.1:${port}`,
    hostKeyPath: join(base, 'host_key'),
    clientKeyPath: join(base, 'client_key'),
    knownHostsPath: join(base, 'known_hosts'),
    clientPublicKey: client.publicKey,
  };
  writeFileAtomic(settings.hostKeyPath, host.privateKey, 0o600);
  writeFileAtomic(settings.clientKeyPath, client.privateKey, 0o600);
  writeFileAtomic(settings.knownHostsPath, `[127.0.0.1]:${port} ${host.publicKey}\n`, 0o600);
  writeFileAtomic(settingsPath, `${JSON.stringify(settings, null, 2)}\n`, 0o600);
  return settings;
}

/** The settings `ensureConsole` wrote; throws a ConsoleError when there are none. */
export function readConsole(dir: string): ConsoleSettings {
  const settingsPath = join(consoleDir(dir), 'console.json');
  if (!existsSync(settingsPath)) throw new ConsoleError(`${settingsPath} is missing: nebula's console is made by 'gateway agent enroll' or 'run' (upgrade the agent and let it apply a config)`);
  return JSON.parse(readFileSync(settingsPath, 'utf8')) as ConsoleSettings;
}

/** The `sshd` section of nebula's config for these settings: loopback only, one key, one user. */
export function sshdSection(settings: ConsoleSettings): Record<string, unknown> {
  return {
    enabled: true,
    listen: settings.listen,
    host_key: settings.hostKeyPath,
    authorized_users: [{ user: CONSOLE_USER, keys: [settings.clientPublicKey] }],
  };
}

/**
 * The OpenSSH client's arguments for one console command: it trusts only the console's host key,
 * offers only the agent's key, and reads no user or system ssh config.
 */
export function consoleArgs(settings: ConsoleSettings, command: string): string[] {
  const [host, port] = splitListen(settings.listen);
  return [
    '-F', '/dev/null',
    '-T',
    '-p', port,
    '-i', settings.clientKeyPath,
    '-o', 'IdentitiesOnly=yes',
    '-o', 'BatchMode=yes',
    '-o', 'StrictHostKeyChecking=yes',
    '-o', `UserKnownHostsFile=${settings.knownHostsPath}`,
    '-o', 'GlobalKnownHostsFile=/dev/null',
    '-o', 'ConnectTimeout=5',
    '-o', 'LogLevel=ERROR',
    `${CONSOLE_USER}@${host}`,
    command,
  ];
}

/** Runs one console command (e.g. `list-hostmap -json`) through the OpenSSH client and resolves to its output. */
export function consoleCommand(settings: ConsoleSettings, command: string, options: { sshBinary?: string; timeoutMs?: number } = {}): Promise<string> {
  const args = consoleArgs(settings, command);
  const binary = options.sshBinary ?? 'ssh';
  return new Promise((resolve, reject) => {
    execFile(binary, args, { encoding: 'utf8', timeout: options.timeoutMs ?? 10_000, maxBuffer: 16 * 1024 * 1024 }, (error, stdout, stderr) => {
      if (error) {
        const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
        reject(new ConsoleError(missing ? `'${binary}' (the OpenSSH client, package openssh-client) is needed to read nebula's state` : `nebula's console at ${settings.listen} did not answer '${command}': ${stderr.trim() || error.message}`, { cause: error }));
      } else {
        resolve(stdout);
      }
    });
  });
}

function splitListen(listen: string): [string, string] {
  const match = /^(127\.0\.0\.1):(\d{1,5})$/.exec(listen);
  if (!match) throw new ConsoleError(`console listen address must be 127.0.0.1:<port>, not '${listen}'`);
  return [match[1], match[2]];
}

/** An ed25519 key pair: the private key in OpenSSH's own format (nebula's sshd and the ssh client both read it), the public key as `ssh-ed25519 <base64>`. */
function ed25519OpenSsh(): { privateKey: string; publicKey: string } {
  const { privateKey } = generateKeyPairSync('ed25519');
  const jwk = privateKey.export({ format: 'jwk' });
  const seed = Buffer.from(jwk.d as string, 'base64url');
  const pub = Buffer.from(jwk.x as string, 'base64url');
  const publicBlob = Buffer.concat([sshString('ssh-ed25519'), sshString(pub)]);
  const check = randomBytes(4);
  let secret = Buffer.concat([check, check, sshString('ssh-ed25519'), sshString(pub), sshString(Buffer.concat([seed, pub])), sshString(CONSOLE_USER)]);
  const padding = (8 - (secret.length % 8)) % 8;
  secret = Buffer.concat([secret, Buffer.from(Array.from({ length: padding }, (_, i) => i + 1))]);
  const body = Buffer.concat([Buffer.from('openssh-key-v1\0'), sshString('none'), sshString('none'), sshString(''), uint32(1), sshString(publicBlob), sshString(secret)]);
  const lines = body.toString('base64').match(/.{1,70}/g) ?? [];
  return {
    privateKey: `-----BEGIN OPENSSH PRIVATE KEY-----\n${lines.join('\n')}\n-----END OPENSSH PRIVATE KEY-----\n`,
    publicKey: `ssh-ed25519 ${publicBlob.toString('base64')}`,
  };
}

function sshString(value: string | Buffer): Buffer {
  const bytes = typeof value === 'string' ? Buffer.from(value) : value;
  return Buffer.concat([uint32(bytes.length), bytes]);
}

function uint32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}
