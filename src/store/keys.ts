/**
 * Every item's key in the one table. Timestamps in sort keys are ISO 8601 UTC strings, which
 * sort like the instants they name, so "not yet expired" is a key condition, never a filter.
 *
 * | item | pk | sk |
 * |---|---|---|
 * | network (CIDR, CA bundle, policy) | `NETWORK` | `NETWORK` |
 * | config version (bumped on revocations, lighthouse changes) | `NETWORK` | `VERSION` |
 * | route table version (bumped on port changes, revocations of environments) | `NETWORK` | `ROUTESVERSION` |
 * | never-used address counter | `NETWORK` | `IPCOUNTER` |
 * | lighthouse (overlay IP, public endpoints) | `NETWORK` | `LIGHTHOUSE#<hostId>` |
 * | host | `HOST#<id>` | `HOST` (gsi1: `HOSTS` / `<role>#<id>`) |
 * | certificate issued to a host | `HOST#<id>` | `CERT#<notAfter>#<fingerprint>` |
 * | IP lease | `LEASE#<ip>` | `LEASE` |
 * | quarantined address (after a revocation) | `QUARANTINE` | `<availableAt>#<ip>` |
 * | released address, quarantine over (pool) | `POOL` | `<availableAt>#<ip>` |
 * | enrollment token (hashed) | `TOKEN#<sha256>` | `TOKEN` |
 * | revoked certificate | `REVOKED` | `<notAfter>#<fingerprint>` |
 * | EC2 instance registered as a node | `INSTANCE#<instanceId>` | `INSTANCE` |
 * | route of an environment with ports (overlay IP, owner, ports) | `ROUTES` | `HOST#<hostId>` |
 * | public key claimed by a host (never released, not even by a revocation) | `PUBKEY#<sha256 of the PEM>` | `PUBKEY` |
 * | host name held by a host that is not revoked (names are unique, case-insensitively) | `NAME#<lowercased name>` | `NAME` |
 *
 * The proxies' route table is one key-condition Query of the `ROUTES` partition: a host's route
 * item exists while it is not revoked and has at least one port, written in the same transaction
 * as the host's `ports` and the route table version.
 */
export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

export const NETWORK_PK = 'NETWORK';
export const LIGHTHOUSE_PREFIX = 'LIGHTHOUSE#';
export const CERT_PREFIX = 'CERT#';
export const POOL_PK = 'POOL';
export const QUARANTINE_PK = 'QUARANTINE';
export const REVOKED_PK = 'REVOKED';
export const HOSTS_GSI_PK = 'HOSTS';
export const ROUTES_PK = 'ROUTES';

export const iso = (at: Date): string => at.toISOString();

export const keys = {
  network: (): ItemKey => ({ pk: NETWORK_PK, sk: 'NETWORK' }),
  version: (): ItemKey => ({ pk: NETWORK_PK, sk: 'VERSION' }),
  routesVersion: (): ItemKey => ({ pk: NETWORK_PK, sk: 'ROUTESVERSION' }),
  ipCounter: (): ItemKey => ({ pk: NETWORK_PK, sk: 'IPCOUNTER' }),
  lighthouse: (hostId: string): ItemKey => ({ pk: NETWORK_PK, sk: `${LIGHTHOUSE_PREFIX}${hostId}` }),
  host: (id: string): ItemKey => ({ pk: `HOST#${id}`, sk: 'HOST' }),
  certificate: (hostId: string, notAfter: Date, fingerprint: string): ItemKey => ({
    pk: `HOST#${hostId}`,
    sk: `${CERT_PREFIX}${iso(notAfter)}#${fingerprint}`,
  }),
  lease: (ip: string): ItemKey => ({ pk: `LEASE#${ip}`, sk: 'LEASE' }),
  pool: (availableAt: Date, ip: string): ItemKey => ({ pk: POOL_PK, sk: `${iso(availableAt)}#${ip}` }),
  token: (hash: string): ItemKey => ({ pk: `TOKEN#${hash}`, sk: 'TOKEN' }),
  revocation: (notAfter: Date, fingerprint: string): ItemKey => ({ pk: REVOKED_PK, sk: `${iso(notAfter)}#${fingerprint}` }),
  instance: (instanceId: string): ItemKey => ({ pk: `INSTANCE#${instanceId}`, sk: 'INSTANCE' }),
  route: (hostId: string): ItemKey => ({ pk: ROUTES_PK, sk: `HOST#${hostId}` }),
  publicKey: (pemHash: string): ItemKey => ({ pk: `PUBKEY#${pemHash}`, sk: 'PUBKEY' }),
  hostName: (name: string): ItemKey => ({ pk: `NAME#${name.toLowerCase()}`, sk: 'NAME' }),
};

/** gsi1 attributes of a host: one partition, sorted by role then id, so `?role=` is a prefix. */
export const hostIndexKey = (role: string, id: string) => ({ gsi1pk: HOSTS_GSI_PK, gsi1sk: `${role}#${id}` });

/** Epoch seconds for the TTL attribute. */
export const ttlOf = (at: Date): number => Math.ceil(at.getTime() / 1000);
