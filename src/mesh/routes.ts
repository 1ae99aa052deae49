import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { MeshError } from './errors';

/**
 * The proxy's route table: which environment's overlay IP answers `https://<port>--<hostId>.<domain>`,
 * who owns it, and how each exposed port may be reached. The control plane serves it at
 * `GET /v1/routes` (ETag, `If-None-Match`, `?wait=` long-poll); a proxy may also read it from a file.
 */

export const ACCESS_LEVELS = ['private', 'organization', 'public'] as const;
/** `private`: the host's owner only; `organization`: any principal of the owner's organization; `public`: anyone. */
export type AccessLevel = (typeof ACCESS_LEVELS)[number];

export const UPSTREAM_PROTOCOLS = ['http', 'https'] as const;
/** How the proxy talks to the environment's port over the mesh. */
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];

/** Who a request acts for (from an access token) and who owns a host. */
export interface Principal {
  readonly subject: string;
  readonly organization: string;
}

export interface PortRoute {
  readonly port: number;
  readonly access: AccessLevel;
  readonly protocol: UpstreamProtocol;
}

export interface RouteEntry {
  readonly hostId: string;
  /** Overlay IPv4 address, without prefix length. */
  readonly ip: string;
  readonly owner: Principal;
  readonly ports: readonly PortRoute[];
}

/** The wire shape of `GET /v1/routes` and of a route file. */
export interface RouteTable {
  /** Changes whenever any route changes; the HTTP ETag is this value quoted. */
  readonly version: string;
  readonly routes: readonly RouteEntry[];
}

/**
 * The route changes from version `from` to version `to` (`GET /v1/routes?since=<from>`): hosts
 * whose route is new or changed, whole, and hosts that left the table. A host is in one list at most.
 */
export interface RouteDelta {
  readonly from: string;
  readonly to: string;
  readonly upsert: readonly RouteEntry[];
  readonly remove: readonly string[];
}

/** A DNS label that can follow `<port>--`: lower-case letters, digits, single inner hyphens. */
const HOST_ID = /^[a-z0-9](?:-?[a-z0-9])*$/;
const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;

/** zod/mini ships no messages; these are the ones classic zod gives (its English locale). */
const ENGLISH = { error: en().localeError };

const principalSchema = z.object({ subject: z.string().check(z.minLength(1)), organization: z.string().check(z.minLength(1)) });
const portSchema = z.object({
  port: z.number().check(z.int(), z.minimum(1), z.maximum(65535)),
  access: z.enum(ACCESS_LEVELS),
  protocol: z.enum(UPSTREAM_PROTOCOLS),
});
const entrySchema = z.object({
  hostId: z.string().check(z.regex(HOST_ID, 'must be a DNS label of lower-case letters, digits and single hyphens'), z.maxLength(63)),
  ip: z.string().check(z.regex(IPV4, 'must be an IPv4 address')),
  owner: principalSchema,
  ports: z.array(portSchema),
});
const tableSchema = z.object({ version: z.string().check(z.minLength(1)), routes: z.array(entrySchema) });
const deltaSchema = z.object({
  from: z.string().check(z.minLength(1)),
  to: z.string().check(z.minLength(1)),
  upsert: z.array(entrySchema),
  remove: z.array(entrySchema.shape.hostId),
});

/** Validates a parsed JSON value as a route table; throws `MeshError` whose `field` is a JSON path such as `routes[2].ports[0].access`. */
export function parseRouteTable(value: unknown): RouteTable {
  const result = z.safeParse(tableSchema, value, ENGLISH);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new MeshError(formatPath(issue.path), issue.message);
  }
  const table = result.data;
  const seenHosts = new Set<string>();
  table.routes.forEach((entry, i) => {
    if (seenHosts.has(entry.hostId)) throw new MeshError(`routes[${i}].hostId`, `duplicate host ${entry.hostId}`);
    seenHosts.add(entry.hostId);
    const seenPorts = new Set<number>();
    entry.ports.forEach((p, j) => {
      if (seenPorts.has(p.port)) throw new MeshError(`routes[${i}].ports[${j}].port`, `duplicate port ${p.port}`);
      seenPorts.add(p.port);
    });
  });
  return table;
}

/**
 * An answer of `GET /v1/routes?since=`: a delta (it has `from`), or else a whole table. Throws
 * `MeshError` naming the JSON path, as `parseRouteTable` does; a host in both lists is refused.
 */
export function parseRouteUpdate(value: unknown): { kind: 'delta'; delta: RouteDelta } | { kind: 'table'; table: RouteTable } {
  if (typeof value !== 'object' || value === null || !('from' in value)) return { kind: 'table', table: parseRouteTable(value) };
  const result = z.safeParse(deltaSchema, value, ENGLISH);
  if (!result.success) {
    const issue = result.error.issues[0];
    throw new MeshError(formatPath(issue.path), issue.message);
  }
  const delta = result.data;
  const seen = new Set<string>();
  delta.upsert.forEach((entry, i) => {
    if (seen.has(entry.hostId)) throw new MeshError(`upsert[${i}].hostId`, `duplicate host ${entry.hostId}`);
    seen.add(entry.hostId);
  });
  delta.remove.forEach((hostId, i) => {
    if (seen.has(hostId)) throw new MeshError(`remove[${i}]`, `host ${hostId} is listed twice`);
    seen.add(hostId);
  });
  return { kind: 'delta', delta };
}

/**
 * `table` with `delta` applied (the caller checked `delta.from === table.version`): changed hosts
 * replaced in place, new ones appended, removed ones left out. One pass, no sort.
 */
export function applyRouteDelta(table: RouteTable, delta: RouteDelta): RouteTable {
  const changed = new Map<string, RouteEntry | undefined>(delta.upsert.map((e) => [e.hostId, e]));
  for (const hostId of delta.remove) changed.set(hostId, undefined);
  const routes: RouteEntry[] = [];
  for (const entry of table.routes) {
    if (!changed.has(entry.hostId)) {
      routes.push(entry);
      continue;
    }
    const next = changed.get(entry.hostId);
    if (next) routes.push(next);
    changed.delete(entry.hostId);
  }
  for (const entry of changed.values()) if (entry) routes.push(entry);
  return { version: delta.to, routes };
}

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(root)';
  return path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key)), '');
}

/** The `<port>` and `<hostId>` a proxied host name addresses. */
export interface ProxyTarget {
  readonly port: number;
  readonly hostId: string;
}

/**
 * Reads `<port>--<hostId>.<domain>` (case-insensitive, an optional `:port` suffix as in a Host
 * header) or returns undefined for anything else, including sub-domains of the first label.
 */
export function parseProxyHostName(host: string, domain: string): ProxyTarget | undefined {
  const name = stripPort(host).toLowerCase();
  const suffix = `.${domain.toLowerCase()}`;
  if (!name.endsWith(suffix)) return undefined;
  const label = name.slice(0, name.length - suffix.length);
  const sep = label.indexOf('--');
  if (sep < 1 || sep > 5) return undefined;
  const portText = label.slice(0, sep);
  const hostId = label.slice(sep + 2);
  if (!/^[1-9]\d*$/.test(portText) || !HOST_ID.test(hostId)) return undefined;
  const port = Number(portText);
  return port <= 65535 ? { port, hostId } : undefined;
}

/** The host name a port of a host is published at. */
export function proxyHostName(port: number, hostId: string, domain: string): string {
  return `${port}--${hostId}.${domain.toLowerCase()}`;
}

function stripPort(host: string): string {
  const colon = host.lastIndexOf(':');
  return colon >= 0 && !host.endsWith(']') ? host.slice(0, colon) : host;
}

/** A route table indexed for lookups by host id and port. */
export class RouteIndex {
  private readonly byHost: Map<string, RouteEntry>;

  constructor(readonly table: RouteTable) {
    this.byHost = new Map(table.routes.map((r) => [r.hostId, r]));
  }

  get version(): string {
    return this.table.version;
  }

  /** The host and its port route, or undefined when either is not published. */
  lookup(target: ProxyTarget): { entry: RouteEntry; port: PortRoute } | undefined {
    const entry = this.byHost.get(target.hostId);
    const port = entry?.ports.find((p) => p.port === target.port);
    return entry && port ? { entry, port } : undefined;
  }
}

/** Whether `principal` (undefined: no valid token) may reach a port of a host owned by `owner`. */
export function isAllowed(access: AccessLevel, owner: Principal, principal: Principal | undefined): boolean {
  if (access === 'public') return true;
  if (!principal || principal.organization !== owner.organization) return false;
  return access === 'organization' || principal.subject === owner.subject;
}
