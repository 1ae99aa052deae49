import { readFileSync } from 'node:fs';
import { fromNodeProviderChain } from '@aws-sdk/credential-providers';
import { AdminClient } from '../../client/admin-client';
import { ApiUrlError, executeApiRegion, parseApiUrl } from '../../client/api-url';
import { GatewayApiError } from '../../client/errors';
import { bearerTokenAuth, type RequestAuth, sigv4Auth } from '../../client/request-auth';
import { type CliIO, UsageError, required } from '../command';

/** The flags every admin command (`hosts`, `ports`, `tokens`, `egress-policies`, `network`, `ca rotate`) takes: where the API is and how to authenticate. */
export const CONNECTION_FLAGS = {
  api: { type: 'string' },
  iam: { type: 'boolean' },
  profile: { type: 'string' },
  region: { type: 'string' },
  'token-file': { type: 'string' },
  json: { type: 'boolean' },
} as const;

export const CONNECTION_USAGE = `Connection (every admin command: hosts, ports, tokens, egress-policies, network, ca rotate):
  --api URL           the gateway's API: a deployed stage (https://<id>.execute-api.<region>.amazonaws.com/api)
                      or a local gateway (http://127.0.0.1:8080; plain http only to this machine)
  --iam               authenticate with SigV4 (service execute-api) and the AWS credential chain: AWS_ACCESS_KEY_ID
                      and AWS_SECRET_ACCESS_KEY, AWS_PROFILE or --profile, SSO, an instance or container role. For a
                      deployed gateway; the caller must be one of its admin roles (admins.roleArns) or a session of one
  --profile NAME      with --iam: use this AWS profile
  --region R          with --iam: the API's region (default: from an execute-api host, else AWS_REGION)
  --token-file FILE   authenticate with a local gateway's admin token (gateway serve writes .gateway/admin-token)
  (no --iam, no --token-file)  the admin token in GATEWAY_ADMIN_TOKEN; without it the command stops and asks
  --json              print the API's JSON answer instead of text
`;

export type ConnectionFlags = { [K in keyof typeof CONNECTION_FLAGS]?: (typeof CONNECTION_FLAGS)[K]['type'] extends 'boolean' ? boolean : string };

const ADMIN_TOKEN_PREFIX = 'gwa_';
const REGION = /^[a-z]{2}(?:-[a-z]+)+-\d+$/;

/** The client the flags describe; UsageError naming the flag for anything wrong with them. */
export function adminClientFrom(flags: ConnectionFlags, io: CliIO): { client: AdminClient; api: URL } {
  const text = required(flags, 'api');
  let api: URL;
  try {
    api = parseApiUrl(text);
  } catch (err) {
    if (err instanceof ApiUrlError) throw new UsageError(`flag --api: ${err.message}`);
    throw err;
  }
  return { client: new AdminClient({ api, auth: authFrom(flags, io, api) }), api };
}

/**
 * The authentication mode, chosen by flags, never guessed from the URL: --iam signs with SigV4,
 * --token-file sends that admin token, neither sends GATEWAY_ADMIN_TOKEN when it is set.
 */
function authFrom(flags: ConnectionFlags, io: CliIO, api: URL): RequestAuth {
  if (flags.iam && flags['token-file'] !== undefined) {
    throw new UsageError('flags --iam and --token-file exclude each other: --iam signs with AWS credentials, --token-file sends an admin token');
  }
  if (flags.iam) {
    return sigv4Auth({ region: regionFor(flags, io, api), credentials: fromNodeProviderChain(flags.profile !== undefined ? { profile: flags.profile } : {}) });
  }
  for (const flag of ['region', 'profile'] as const) {
    if (flags[flag] !== undefined) throw new UsageError(`flag --${flag} applies only with --iam`);
  }
  if (flags['token-file'] !== undefined) return bearerTokenAuth(readAdminToken(flags['token-file']));
  const token = io.env.GATEWAY_ADMIN_TOKEN;
  if (token === undefined || token === '') {
    throw new UsageError('say how to authenticate: --iam (AWS credentials, a deployed gateway) or --token-file FILE (a local gateway\'s admin token; or set GATEWAY_ADMIN_TOKEN)');
  }
  if (!token.startsWith(ADMIN_TOKEN_PREFIX)) throw new UsageError(`GATEWAY_ADMIN_TOKEN does not hold an admin token (${ADMIN_TOKEN_PREFIX}…)`);
  return bearerTokenAuth(token);
}

function readAdminToken(path: string): string {
  let token: string;
  try {
    token = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new UsageError(`flag --token-file: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!token.startsWith(ADMIN_TOKEN_PREFIX) || /\s/.test(token)) throw new UsageError(`flag --token-file: ${path} does not hold an admin token (${ADMIN_TOKEN_PREFIX}…)`);
  return token;
}

/** --region, checked against an execute-api host's own region; else the host's; else AWS_REGION. */
function regionFor(flags: ConnectionFlags, io: CliIO, api: URL): string {
  const fromHost = executeApiRegion(api);
  const flag = flags.region;
  if (flag !== undefined) {
    if (!REGION.test(flag)) throw new UsageError(`flag --region must be an AWS region such as eu-west-1, not '${flag}'`);
    if (fromHost !== undefined && fromHost !== flag) throw new UsageError(`flag --region ${flag} does not match the region of the --api host, ${fromHost}`);
    return flag;
  }
  const region = fromHost ?? io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError('flag --region is needed: the --api host is not <id>.execute-api.<region>.amazonaws.com and AWS_REGION is not set');
  return region;
}

/**
 * Runs one API call; a refusal becomes an Error whose message shows the problem's title, detail
 * and failing fields, each with the flag (or argument) that set it.
 */
export async function calling<T>(call: () => Promise<T>, flagOf: (field: string) => string | undefined): Promise<T> {
  try {
    return await call();
  } catch (err) {
    if (!(err instanceof GatewayApiError)) throw err;
    const lines = [`the gateway refused: ${err.status} ${err.title}: ${err.detail}`];
    for (const { field, message } of err.fields) {
      const flag = flagOf(field);
      lines.push(`  ${field}${flag ? ` (${flag})` : ''}: ${message}`);
    }
    throw new Error(lines.join('\n'), { cause: err });
  }
}

/** The flag a body field came from: `groups[2]` → `--groups`, `owner.subject` → the owner flag. */
export function flagOfField(flags: Record<string, string>): (field: string) => string | undefined {
  return (field) => flags[field] ?? flags[field.replace(/\[\d+\]$/, '').replace(/\..*$/, '')];
}

/** The flag a refused field came from, for repeated flags: `rules[2].cidr` → `--rule` (the third), `routes[0]` → `--route`. */
export function flagOf(flags: Record<string, string>): (field: string) => string | undefined {
  return (field) => {
    const match = /^([a-z-]+)(?:\[(\d+)\])?/.exec(field);
    const flag = match ? flags[match[1]] : undefined;
    if (!flag || !match) return undefined;
    return match[2] === undefined ? flag : `${flag} #${Number(match[2]) + 1}`;
  };
}

/** Reads a command's arguments: exactly `names`, in order; UsageError naming what is missing or extra. */
export function argumentsOf(positionals: string[], names: readonly string[]): string[] {
  if (positionals.length < names.length) throw new UsageError(`missing argument ${names.slice(positionals.length).join(' ')}`);
  if (positionals.length > names.length) throw new UsageError(`unexpected argument '${positionals[names.length]}'`);
  return positionals;
}

const HOST_ID = /^[A-Za-z0-9_-]{1,64}$/;

export function hostIdArgument(value: string): string {
  if (!HOST_ID.test(value)) throw new UsageError(`argument ID: '${value}' is not a host id (such as h-k3f9x2…)`);
  return value;
}

export function portArgument(value: string): number {
  if (!/^[1-9][0-9]{0,4}$/.test(value) || Number(value) > 65535) throw new UsageError(`argument PORT must be a TCP port from 1 to 65535, not '${value}'`);
  return Number(value);
}

/** One choice among `allowed`, or UsageError naming the flag. */
export function choice<T extends string>(flag: string, value: string | undefined, allowed: readonly T[]): T | undefined {
  if (value === undefined) return undefined;
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`flag --${flag} must be ${allowed.join(', ')}; not '${value}'`);
  return value as T;
}

export function writeJson(io: CliIO, value: unknown): void {
  io.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
