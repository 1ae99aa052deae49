import { createHash } from 'node:crypto';

/**
 * Every item's key in the one table. Timestamps in sort keys are ISO 8601 UTC strings, which
 * sort like the instants they name, so "not yet expired" is a key condition, never a filter.
 *
 * | item | pk | sk |
 * |---|---|---|
 * | network (CIDR, CA bundle, policy, CA rotation) | `NETWORK` | `NETWORK` |
 * | host that fetched a config carrying a CA bundle (during a CA rotation; TTL) | `CABUNDLE#<bundle hash>` | `HOST#<hostId>` |
 * | config version (bumped on revocations, lighthouse changes) | `CONFIGVERSION` | `VERSION` |
 * | route table sequence number and epoch (moved by every route change) | `ROUTESVERSION` | `ROUTESVERSION` |
 * | route change `<seq>` (a host's route after it, or its removal; TTL) | `ROUTECHANGES` | `<seq, 12 digits>` |
 * | never-used address counter | `NETWORK` | `IPCOUNTER` |
 * | lighthouse (overlay IP, public endpoints) | `NETWORK` | `LIGHTHOUSE#<hostId>` |
 * | host | `HOST#<id>` | `HOST` (gsi1: `HOSTS#<shard>` / `<role>#<id>`, shard 0..15 from the id) |
 * | certificate issued to a host | `HOST#<id>` | `CERT#<notAfter>#<fingerprint>` |
 * | host's last sighting (lastSeenAt, agent and nebula versions; revokedAt once revoked; no gsi1: 1 write unit) | `HOST#<id>` | `SEEN` |
 * | IP lease | `LEASE#<ip>` | `LEASE` |
 * | quarantined address (after a revocation) | `QUARANTINE` | `<availableAt>#<ip>` |
 * | released address, quarantine over (pool) | `POOL` | `<availableAt>#<ip>` |
 * | enrollment token (hashed) | `TOKEN#<sha256>` | `TOKEN` |
 * | revoked certificate | `REVOKED` | `<notAfter>#<fingerprint>` |
 * | EC2 instance registered as a node | `INSTANCE#<instanceId>` | `INSTANCE` |
 * | route of an environment with ports (overlay IP, owner, ports) | `ROUTES` | `HOST#<hostId>` |
 * | public key claimed by a host (never released, not even by a revocation) | `PUBKEY#<sha256 of the PEM>` | `PUBKEY` |
 * | active egress node (overlay IP; environments route through it) | `NETWORK` | `EGRESS#<hostId>` |
 * | an organisation's egress policy (rules, revision) | `EGRESSPOLICIES` | `ORG#<organization>` |
 * | egress member: an environment not revoked with an owner (overlay IP, name, organisation) | `EGRESSMEMBERS` | `HOST#<hostId>` |
 * | egress version (moved by every write that changes the egress nodes' rule feed) | `EGRESSVERSION` | `VERSION` |
 * | host name held by a host that is not revoked (names are unique, case-insensitively) | `NAME#<lowercased name>` | `NAME` |
 *
 * The proxies' route table is one key-condition Query of the `ROUTES` partition: a host's route
 * item exists while it is not revoked and has at least one port, written in the same transaction
 * as the host's `ports`, the route table sequence number and the change record of that number, so
 * the records since a proxy's version are the changes it has not seen (see routes.ts).
 */
export interface ItemKey {
  readonly pk: string;
  readonly sk: string;
}

export const NETWORK_PK = 'NETWORK';
export const LIGHTHOUSE_PREFIX = 'LIGHTHOUSE#';
export const EGRESS_NODE_PREFIX = 'EGRESS#';
/** Every organisation's egress policy in one partition: the egress nodes' rule feed is one Query. */
export const EGRESS_POLICIES_PK = 'EGRESSPOLICIES';
/** Every environment an egress node admits, in one partition: the rule feed reads them with one strongly consistent Query. */
export const EGRESS_MEMBERS_PK = 'EGRESSMEMBERS';
export const CERT_PREFIX = 'CERT#';
/** The host item's sort key, and its sighting's: read together by one Query between them (host-seen.ts). */
export const HOST_SK = 'HOST';
export const HOST_SEEN_SK = 'SEEN';
export const POOL_PK = 'POOL';
export const QUARANTINE_PK = 'QUARANTINE';
export const REVOKED_PK = 'REVOKED';
export const HOSTS_GSI_PREFIX = 'HOSTS#';
/**
 * The host listing is written across this many gsi1 partitions: every host item write (creation,
 * enrollment, renewal, ports, revocation) also writes its index copy, and one partition takes at
 * most 1,000 WCU/s (see README.md for the arithmetic).
 */
export const HOST_LISTING_SHARDS = 16;
export const ROUTES_PK = 'ROUTES';
export const ROUTE_CHANGES_PK = 'ROUTECHANGES';
/** Digits of a route change's sequence number in its sort key, so that string order is number order. */
const SEQ_DIGITS = 12;

export const iso = (at: Date): string => at.toISOString();

export const keys = {
  network: (): ItemKey => ({ pk: NETWORK_PK, sk: 'NETWORK' }),
  // The two version items have partition keys of their own: each takes up to 1,000 WCU/s, apart
  // from the address counter's (see README.md, hot keys).
  version: (): ItemKey => ({ pk: 'CONFIGVERSION', sk: 'VERSION' }),
  routesVersion: (): ItemKey => ({ pk: 'ROUTESVERSION', sk: 'ROUTESVERSION' }),
  egressVersion: (): ItemKey => ({ pk: 'EGRESSVERSION', sk: 'VERSION' }),
  ipCounter: (): ItemKey => ({ pk: NETWORK_PK, sk: 'IPCOUNTER' }),
  lighthouse: (hostId: string): ItemKey => ({ pk: NETWORK_PK, sk: `${LIGHTHOUSE_PREFIX}${hostId}` }),
  host: (id: string): ItemKey => ({ pk: `HOST#${id}`, sk: HOST_SK }),
  hostSeen: (id: string): ItemKey => ({ pk: `HOST#${id}`, sk: HOST_SEEN_SK }),
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
  routeChange: (seq: number): ItemKey => ({ pk: ROUTE_CHANGES_PK, sk: routeChangeSk(seq) }),
  publicKey: (pemHash: string): ItemKey => ({ pk: `PUBKEY#${pemHash}`, sk: 'PUBKEY' }),
  hostName: (name: string): ItemKey => ({ pk: `NAME#${name.toLowerCase()}`, sk: 'NAME' }),
  egressNode: (hostId: string): ItemKey => ({ pk: NETWORK_PK, sk: `${EGRESS_NODE_PREFIX}${hostId}` }),
  egressPolicy: (organization: string): ItemKey => ({ pk: EGRESS_POLICIES_PK, sk: `ORG#${organization}` }),
  egressMember: (hostId: string): ItemKey => ({ pk: EGRESS_MEMBERS_PK, sk: `HOST#${hostId}` }),
};

export const routeChangeSk = (seq: number): string => String(seq).padStart(SEQ_DIGITS, '0');

/** The listing shard of a host: from a hash of its id, so shards fill evenly whatever the ids look like. */
export const hostListingShard = (id: string): number => createHash('sha256').update(id).digest()[0] % HOST_LISTING_SHARDS;

/** gsi1 attributes of a host: its listing shard, sorted by role then id, so `?role=` is a prefix. */
export const hostIndexKey = (role: string, id: string) => ({ gsi1pk: `${HOSTS_GSI_PREFIX}${hostListingShard(id)}`, gsi1sk: `${role}#${id}` });

/** Epoch seconds for the TTL attribute. */
export const ttlOf = (at: Date): number => Math.ceil(at.getTime() / 1000);
