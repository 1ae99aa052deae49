import type { CreatedHost, Host, Principal, Role } from '../../client/admin-client';
import { type CliIO, type CommandImpl, UsageError, parseFlagsAndArguments, required } from '../command';
import {
  adminClientFrom,
  argumentsOf,
  calling,
  choice,
  CONNECTION_FLAGS,
  CONNECTION_USAGE,
  flagOfField,
  hostIdArgument,
  writeJson,
} from './admin-connection';

const ROLES: readonly Role[] = ['environment', 'lighthouse', 'proxy', 'egress'];

const CREATE_FIELDS = flagOfField({ name: '--name', role: '--role', groups: '--groups', ip: '--ip', endpoints: '--endpoints', owner: '--owner' });
const ID_FIELDS = flagOfField({ id: 'ID' });

/** `--owner subject@organization` (split at the last @: subjects may be e-mail addresses), or the two separate flags. */
function ownerOf(flags: { owner?: string; 'owner-subject'?: string; 'owner-org'?: string }): Principal | undefined {
  const separate = flags['owner-subject'] !== undefined || flags['owner-org'] !== undefined;
  if (flags.owner !== undefined) {
    if (separate) throw new UsageError('flag --owner excludes --owner-subject and --owner-org');
    const at = flags.owner.lastIndexOf('@');
    if (at <= 0 || at === flags.owner.length - 1) throw new UsageError(`flag --owner must be SUBJECT@ORGANIZATION, not '${flags.owner}'`);
    return { subject: flags.owner.slice(0, at), organization: flags.owner.slice(at + 1) };
  }
  if (!separate) return undefined;
  return { subject: required(flags, 'owner-subject'), organization: required(flags, 'owner-org') };
}

function listOf(value: string | undefined): string[] | undefined {
  return value === undefined ? undefined : value.split(',').map((v) => v.trim()).filter((v) => v !== '');
}

const principal = (p: Principal) => `${p.subject}@${p.organization}`;

/** A host as `key: value` lines. */
export function renderHost(host: Host): string {
  const rows: [string, string | undefined][] = [
    ['id', host.id],
    ['name', host.name],
    ['role', host.role],
    ['status', host.status],
    ['ip', host.ip],
    ['groups', host.groups.length > 0 ? host.groups.join(', ') : undefined],
    ['owner', host.owner ? principal(host.owner) : undefined],
    ['endpoints', host.endpoints?.join(', ')],
    ['ports', host.ports?.map((p) => `${p.port} ${p.access} ${p.protocol}`).join(', ') || undefined],
    ['instance', host.instanceId],
    ['created', host.createdAt],
    ['enrolled', host.enrolledAt],
    ['certificate', host.certificateFingerprint ? `${host.certificateFingerprint} until ${host.certificateExpiresAt}` : undefined],
    ['revoked', host.revokedAt],
    ['last seen', host.lastSeenAt],
    ['agent', host.agentVersion && `gateway-agent ${host.agentVersion}${host.nebulaVersion ? `, nebula ${host.nebulaVersion}` : ''}`],
  ];
  const shown = rows.filter((r): r is [string, string] => r[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length)) + 1;
  return shown.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}\n`).join('');
}

/** Hosts as a table, one line each. */
export function renderHostTable(hosts: readonly Host[]): string {
  const rows = [
    ['ID', 'NAME', 'ROLE', 'STATUS', 'IP', 'OWNER / ENDPOINTS / INSTANCE'],
    ...hosts.map((h) => [h.id, h.name, h.role, h.status, h.ip, h.owner ? principal(h.owner) : (h.endpoints?.join(',') ?? h.instanceId ?? '')]),
  ];
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => `${r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ').trimEnd()}\n`).join('');
}

function renderCreated(created: CreatedHost, api: URL): string {
  const { host, enrollment } = created;
  const apiText = api.href.replace(/\/+$/, '');
  return [
    `created host ${host.id} (${host.name}, ${host.role}), overlay address ${host.ip}`,
    `enrollment token (works once, until ${enrollment.expiresAt}; not shown again):`,
    `  ${enrollment.token}`,
    // The token goes in a file, not the command line, where every local user would see it in ps.
    'on the host (nebula 1.6 and Node.js 20 installed; no checkout needed), paste the token into a file only you can read, then run the bootstrap:',
    '  (umask 077 && cat >~/enroll-token)',
    `  curl -fsSL ${apiText}/v1/bootstrap | sudo sh -s -- --token-file ~/enroll-token && rm ~/enroll-token`,
    '',
  ].join('\n');
}

export const hostsCreateCommand: CommandImpl = {
  usage: `Usage: gateway hosts create --api URL (--iam | --token-file FILE) --name N --role R [--groups g1,g2] [--ip IP]
         [--owner SUBJECT@ORG | --owner-subject S --owner-org O] [--endpoints host:port,...] [--json]

Creates a host and prints it, its one-time enrollment token and the one-line bootstrap command
to run on it (curl <api>/v1/bootstrap | sudo sh, see docs/bootstrap.md). The token is shown only in this answer.

  --name N            the host's name (1-63 characters a-z, A-Z, 0-9, ., _ or -)
  --role R            environment, lighthouse, proxy or egress
  --groups g1,g2      extra certificate groups
  --ip IP             a specific overlay address (default: the next free one)
  --owner S@O         an environment's owner: subject and organization (split at the last @)
  --owner-subject S, --owner-org O   the same, as two flags
  --endpoints a:p,..  a lighthouse's public host:port endpoints

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, {
      ...CONNECTION_FLAGS,
      name: { type: 'string' },
      role: { type: 'string' },
      groups: { type: 'string' },
      ip: { type: 'string' },
      owner: { type: 'string' },
      'owner-subject': { type: 'string' },
      'owner-org': { type: 'string' },
      endpoints: { type: 'string' },
    });
    argumentsOf(positionals, []);
    const name = required(flags, 'name');
    const role = choice('role', required(flags, 'role'), ROLES) as Role;
    const owner = ownerOf(flags);
    const groups = listOf(flags.groups);
    const endpoints = listOf(flags.endpoints);
    const { client, api } = adminClientFrom(flags, io);
    const created = await calling(
      () => client.createHost({ name, role, ...(groups ? { groups } : {}), ...(flags.ip !== undefined ? { ip: flags.ip } : {}), ...(endpoints ? { endpoints } : {}), ...(owner ? { owner } : {}) }),
      CREATE_FIELDS,
    );
    if (flags.json) writeJson(io, created);
    else io.stdout.write(renderCreated(created, api));
    return 0;
  },
};

export const hostsListCommand: CommandImpl = {
  usage: `Usage: gateway hosts list --api URL (--iam | --token-file FILE) [--role R] [--json]

Lists every host (all pages), optionally only those of one role.

  --role R            environment, lighthouse, proxy or egress

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, { ...CONNECTION_FLAGS, role: { type: 'string' } });
    argumentsOf(positionals, []);
    const role = choice('role', flags.role, ROLES);
    const { client } = adminClientFrom(flags, io);
    const hosts = await calling(() => client.listHosts(role ? { role } : {}), flagOfField({ role: '--role' }));
    if (flags.json) writeJson(io, { hosts });
    else io.stdout.write(renderHostTable(hosts));
    return 0;
  },
};

export const hostsShowCommand: CommandImpl = {
  usage: `Usage: gateway hosts show ID --api URL (--iam | --token-file FILE) [--json]

Shows one host: status, address, owner, ports, certificate, when its agent last called the API
(recorded at most every 10 minutes) and the agent's and nebula's versions.

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, CONNECTION_FLAGS);
    const [id] = argumentsOf(positionals, ['ID']).map(hostIdArgument);
    const { client } = adminClientFrom(flags, io);
    const host = await calling(() => client.getHost(id), ID_FIELDS);
    if (flags.json) writeJson(io, { host });
    else io.stdout.write(renderHost(host));
    return 0;
  },
};

export const hostsSetOwnerCommand: CommandImpl = {
  usage: `Usage: gateway hosts set-owner ID --api URL (--iam | --token-file FILE) (--owner SUBJECT@ORG | --owner-subject S --owner-org O) [--json]

Sets an environment's owner: who may reach its private ports through the proxies. The proxies
follow within seconds; connections already open are not cut.

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, {
      ...CONNECTION_FLAGS,
      owner: { type: 'string' },
      'owner-subject': { type: 'string' },
      'owner-org': { type: 'string' },
    });
    const [id] = argumentsOf(positionals, ['ID']).map(hostIdArgument);
    const owner = ownerOf(flags);
    if (!owner) throw new UsageError('flag --owner (or --owner-subject and --owner-org) is required');
    const { client } = adminClientFrom(flags, io);
    const host = await calling(() => client.setOwner(id, owner), flagOfField({ id: 'ID', owner: '--owner' }));
    if (flags.json) writeJson(io, { host });
    else io.stdout.write(`host ${host.id} (${host.name}) is owned by ${principal(owner)}\n`);
    return 0;
  },
};

export const hostsDeleteCommand: CommandImpl = {
  usage: `Usage: gateway hosts delete ID --api URL (--iam | --token-file FILE) [--json]

Revokes a host: its certificates are blocklisted on every node until they expire, its address is
quarantined, its ports leave the proxies, and a lighthouse leaves every config. Revoking a revoked
host changes nothing.

${CONNECTION_USAGE}`,
  async run(argv: string[], io: CliIO): Promise<number> {
    const { values: flags, positionals } = parseFlagsAndArguments(argv, CONNECTION_FLAGS);
    const [id] = argumentsOf(positionals, ['ID']).map(hostIdArgument);
    const { client } = adminClientFrom(flags, io);
    const host = await calling(() => client.revokeHost(id), ID_FIELDS);
    if (flags.json) writeJson(io, { host });
    else io.stdout.write(`revoked host ${host.id} (${host.name}, ${host.role}) at ${host.revokedAt}\n`);
    return 0;
  },
};
