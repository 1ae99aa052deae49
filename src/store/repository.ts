import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { PutCommand, UpdateCommand } from '@aws-sdk/lib-dynamodb';
import type { Role } from '../mesh';
import type { PortRoute, Principal, RouteEntry } from '../mesh/routes';
import { createHost, type CreatedHost, type CreateHostInput } from './allocation';
import { type CaRotationRecord, listBundleHolders, recordBundleHolder, writeCaRotation } from './ca-rotation';
import { egressNodePut, getEgressPolicy, getEgressVersion, listEgressMembers, listEgressNodes, listEgressPolicies, putEgressPolicy, setEgressRoutes } from './egress-policies';
import { PublicKeyTakenError, StateConflictError } from './errors';
import { certificateItem, publicKeyClaim, publicKeyClaimKey, toHost } from './items';
import { iso, keys, LIGHTHOUSE_PREFIX, NETWORK_PK, REVOKED_PK } from './keys';
import type { EgressRule } from '../mesh/egress-policy';
import type { EgressMemberRecord, EgressNodeRecord, EgressPolicyRecord, EnrollmentTokenRecord, HostRecord, IssuedCertificate, LighthouseRecord, NetworkRecord, RevocationRecord } from './records';
import { revokeHost, sweep } from './revocation';
import { getHostWithSighting, type HostSighting, recordHostSeen } from './host-seen';
import { retirePreviousCertificates } from './certificate-retirement';
import { type HostPage, listHosts } from './host-listing';
import { listRouteChanges, listRoutes, readRoutesHead, replacePorts, type RouteChange, type RoutesHead, setOwner } from './routes';
import { type Item, TableAccess, type TransactItem } from './table-access';
import { cancellationOf, failedCondition, isConditionFailure } from './transactions';

export type { HostPage } from './host-listing';

/**
 * The repository: every read and write of the gateway's state. One table; no Scan anywhere.
 * Writes that must agree (a host, its lease and its token; a revocation and its blocklist
 * entries) go in one TransactWriteItems, so a rejected request leaves nothing half-written.
 */
export class GatewayStore {
  readonly tableName: string;
  private readonly table: TableAccess;

  constructor(options: { readonly client: DynamoDBClient; readonly tableName: string }) {
    this.tableName = options.tableName;
    this.table = new TableAccess(options.client, options.tableName);
  }

  // ---- network ---------------------------------------------------------------------------

  async getNetwork(): Promise<NetworkRecord | undefined> {
    const item = await this.table.get(keys.network());
    if (!item) return undefined;
    return {
      cidr: item.cidr as string,
      caBundle: item.caBundle as string,
      policy: item.policy as NetworkRecord['policy'],
      createdAt: item.createdAt as string,
      egressRoutes: (item.egressRoutes as string[] | undefined) ?? [],
      ...(item.caRotation ? { caRotation: item.caRotation as CaRotationRecord } : {}),
    };
  }

  /** Writes the network record unless one exists; returns the record that is now stored. */
  async initNetwork(record: NetworkRecord): Promise<NetworkRecord> {
    try {
      await this.table.doc.send(new PutCommand({ TableName: this.tableName, Item: { ...keys.network(), ...record }, ConditionExpression: 'attribute_not_exists(pk)' }));
      return record;
    } catch (err) {
      if (!isConditionFailure(err)) throw err;
      return (await this.getNetwork()) as NetworkRecord;
    }
  }

  /** Moves a CA rotation on from `expected`: the bundle and the record in one conditional write (see ca-rotation.ts). */
  writeCaRotation(expected: Pick<CaRotationRecord, 'phase' | 'serial'>, next: { caBundle: string; rotation: CaRotationRecord }): Promise<void> {
    return writeCaRotation(this.table, expected, next);
  }

  /** Records that a host fetched a config carrying the CA bundle `bundleTag` names. */
  recordBundleHolder(bundleTag: string, hostId: string, now: Date): Promise<void> {
    return recordBundleHolder(this.table, bundleTag, hostId, now);
  }

  /** The hosts recorded as holding the CA bundle `bundleTag` names. */
  listBundleHolders(bundleTag: string): Promise<Set<string>> {
    return listBundleHolders(this.table, bundleTag);
  }

  /** A number that moves whenever something in every host's config changes (blocklist, lighthouses, CA). */
  async getConfigVersion(): Promise<number> {
    return ((await this.table.get(keys.version()))?.version as number | undefined) ?? 0;
  }

  async listLighthouses(): Promise<LighthouseRecord[]> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND begins_with(sk, :prefix)',
      ExpressionAttributeValues: { ':pk': NETWORK_PK, ':prefix': LIGHTHOUSE_PREFIX },
    });
    return items.map((i) => ({ hostId: i.hostId as string, ip: i.ip as string, endpoints: i.endpoints as string[] }));
  }

  /** Revoked certificates that have not expired at `now`: a key-condition query on one partition. */
  async listActiveRevocations(now: Date): Promise<RevocationRecord[]> {
    const items = await this.table.queryAll({
      KeyConditionExpression: 'pk = :pk AND sk > :now',
      ExpressionAttributeValues: { ':pk': REVOKED_PK, ':now': iso(now) },
    });
    return items.map((i) => ({ fingerprint: i.fingerprint as string, hostId: i.hostId as string, expiresAt: i.expiresAt as string }));
  }

  // ---- hosts -----------------------------------------------------------------------------

  /** A host with its last sighting (lastSeenAt, versions: host-seen.ts), for the read units of the host alone. */
  getHost(id: string): Promise<HostRecord | undefined> {
    return getHostWithSighting(this.table, id);
  }

  async getHostIdForInstance(instanceId: string): Promise<string | undefined> {
    return (await this.table.get(keys.instance(instanceId)))?.hostId as string | undefined;
  }

  /** Hosts by role then id, from the gsi1 index's listing shards (see host-listing.ts); `cursor` continues a previous page. */
  listHosts(options: { role?: Role; limit: number; cursor?: string }): Promise<HostPage> {
    return listHosts(this.table, options);
  }

  /** A host, its address lease and its enrollment token, in one transaction (see allocation.ts). */
  createHost(input: CreateHostInput): Promise<CreatedHost> {
    return createHost(this.table, input);
  }

  /** The host a public key (canonical PEM) was ever issued a certificate for, if any. */
  async getPublicKeyHolder(publicKeyPem: string): Promise<string | undefined> {
    return (await this.table.get(publicKeyClaimKey(publicKeyPem)))?.hostId as string | undefined;
  }

  // ---- enrollment tokens and credentials -------------------------------------------------

  async getToken(hash: string): Promise<EnrollmentTokenRecord | undefined> {
    const item = await this.table.get(keys.token(hash));
    if (!item) return undefined;
    return { hash, hostId: item.hostId as string, expiresAt: item.expiresAt as string, publicKey: item.publicKey as string | undefined };
  }

  /**
   * First enrollment: binds the token to the public key, claims the key for the host and activates
   * it, atomically; PublicKeyTakenError when the key is another host's.
   */
  async completeEnrollment(input: { host: HostRecord; tokenHash: string; credentialHash: string; certificate: IssuedCertificate; now: Date }): Promise<HostRecord> {
    const { host, tokenHash, certificate: cert, now } = input;
    try {
      await this.table.transact([
        {
          Update: {
            TableName: this.tableName,
            Key: keys.token(tokenHash),
            UpdateExpression: 'SET publicKey = :key',
            ConditionExpression: 'attribute_exists(pk) AND attribute_not_exists(publicKey) AND expiresAt > :now',
            ExpressionAttributeValues: { ':key': cert.publicKey, ':now': iso(now) },
          },
        },
        {
          Update: {
            TableName: this.tableName,
            Key: keys.host(host.id),
            UpdateExpression:
              'SET #status = :active, publicKey = :key, certificate = :pem, certificateFingerprint = :fp, certificateExpiresAt = :exp, credentialHash = :cred, enrolledAt = :now',
            ConditionExpression: '#status = :pending AND tokenHash = :token',
            ExpressionAttributeNames: { '#status': 'status' },
            ExpressionAttributeValues: {
              ':active': 'active',
              ':pending': 'pending',
              ':key': cert.publicKey,
              ':pem': cert.pem,
              ':fp': cert.fingerprint,
              ':exp': iso(cert.notAfter),
              ':cred': input.credentialHash,
              ':now': iso(now),
              ':token': tokenHash,
            },
          },
        },
        this.table.put(certificateItem(host.id, cert)),
        publicKeyClaim(this.tableName, host.id, cert.publicKey, now),
        // An egress node joins the environments' routing: every config may change.
        ...(host.role === 'egress' ? [egressNodePut(this.table, { hostId: host.id, ip: host.ip }), this.table.bumpVersion(keys.version())] : []),
      ]);
    } catch (err) {
      const cancellation = cancellationOf(err);
      if (cancellation && failedCondition(cancellation, 3)) throw new PublicKeyTakenError();
      if (cancellation) throw new StateConflictError('the enrollment token was used or the host changed meanwhile');
      throw err;
    }
    return { ...host, ...certificateFields(cert), status: 'active', credentialHash: input.credentialHash, enrolledAt: iso(now) };
  }

  /** A retried enrollment: a fresh credential replaces the earlier one while the credential was never used. */
  async replaceUnusedCredential(input: { hostId: string; tokenHash: string; credentialHash: string }): Promise<HostRecord> {
    try {
      const result = await this.table.doc.send(
        new UpdateCommand({
          TableName: this.tableName,
          Key: keys.host(input.hostId),
          UpdateExpression: 'SET credentialHash = :cred',
          ConditionExpression: '#status = :active AND tokenHash = :token AND attribute_not_exists(credentialUsedAt)',
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: { ':cred': input.credentialHash, ':active': 'active', ':token': input.tokenHash },
          ReturnValues: 'ALL_NEW',
        }),
      );
      return toHost(result.Attributes as Item);
    } catch (err) {
      if (isConditionFailure(err)) throw new StateConflictError('the host has used its credential; the enrollment token is dead');
      throw err;
    }
  }

  /** The host's first authenticated call: its enrollment token dies for good. */
  async markCredentialUsed(host: HostRecord, now: Date): Promise<void> {
    const items: TransactItem[] = [
      {
        Update: {
          TableName: this.tableName,
          Key: keys.host(host.id),
          UpdateExpression: 'SET credentialUsedAt = :now REMOVE tokenHash',
          ConditionExpression: 'attribute_not_exists(credentialUsedAt) AND credentialHash = :cred',
          ExpressionAttributeValues: { ':now': iso(now), ':cred': host.credentialHash },
        },
      },
    ];
    if (host.tokenHash) items.push({ Delete: { TableName: this.tableName, Key: keys.token(host.tokenHash) } });
    try {
      await this.table.transact(items);
    } catch (err) {
      // Already marked by a concurrent call, or the credential was just replaced: nothing to do.
      if (!cancellationOf(err)) throw err;
    }
  }

  /**
   * Records a newly signed certificate as the host's current one (renewal, node re-registration).
   * With `credentialHash`, the host's credential is replaced too; with `endpoints`, its lighthouse
   * entry. Fails if the host was revoked or its credential changed since `expectedCredentialHash`
   * (StateConflictError), or if the key is another host's (PublicKeyTakenError).
   */
  async recordCertificate(input: {
    host: HostRecord;
    certificate: IssuedCertificate;
    now: Date;
    expectedCredentialHash?: string;
    credentialHash?: string;
    endpoints?: readonly string[];
  }): Promise<HostRecord> {
    const { host, certificate: cert } = input;
    const values: Item = { ':active': 'active', ':key': cert.publicKey, ':pem': cert.pem, ':fp': cert.fingerprint, ':exp': iso(cert.notAfter) };
    let update = 'SET publicKey = :key, certificate = :pem, certificateFingerprint = :fp, certificateExpiresAt = :exp';
    let condition = '#status = :active';
    if (input.endpoints) {
      // The host's own copy too: a lighthouse's nebula listens on the port its endpoints name.
      update += ', endpoints = :endpoints';
      values[':endpoints'] = [...input.endpoints];
    }
    if (input.credentialHash) {
      update += ', credentialHash = :cred REMOVE credentialUsedAt';
      values[':cred'] = input.credentialHash;
    }
    if (input.expectedCredentialHash) {
      condition += ' AND credentialHash = :expected';
      values[':expected'] = input.expectedCredentialHash;
    }
    const items: TransactItem[] = [
      {
        Update: {
          TableName: this.tableName,
          Key: keys.host(host.id),
          UpdateExpression: update,
          ConditionExpression: condition,
          ExpressionAttributeNames: { '#status': 'status' },
          ExpressionAttributeValues: values,
        },
      },
      this.table.put(certificateItem(host.id, cert)),
      publicKeyClaim(this.tableName, host.id, cert.publicKey, input.now),
    ];
    if (input.endpoints) {
      items.push(this.table.put({ ...keys.lighthouse(host.id), hostId: host.id, ip: host.ip, endpoints: [...input.endpoints] }));
      items.push(this.table.bumpVersion(keys.version()));
    }
    try {
      await this.table.transact(items);
    } catch (err) {
      const cancellation = cancellationOf(err);
      if (cancellation && failedCondition(cancellation, 2)) throw new PublicKeyTakenError();
      if (cancellation) throw new StateConflictError(`host ${host.id} was revoked or its credential changed meanwhile`);
      throw err;
    }
    const { credentialUsedAt, ...rest } = host;
    return {
      ...(input.credentialHash ? rest : host),
      ...certificateFields(cert),
      ...(input.credentialHash ? { credentialHash: input.credentialHash } : {}),
      ...(input.endpoints ? { endpoints: [...input.endpoints] } : {}),
    };
  }

  // ---- ports and the proxies' route table -------------------------------------------------

  /** The route table's sequence number: moves by one with every route change (ports, owner, revocations of environments). */
  async getRoutesVersion(): Promise<number> {
    return (await readRoutesHead(this.table)).seq;
  }

  /** The route table's sequence number and epoch (see routes.ts). */
  getRoutesHead(): Promise<RoutesHead> {
    return readRoutesHead(this.table);
  }

  /** Route changes after sequence number `afterSeq`, oldest first, at most `limit` (one Query). */
  listRouteChanges(afterSeq: number, limit: number): Promise<RouteChange[]> {
    return listRouteChanges(this.table, afterSeq, limit);
  }

  /** Every environment with published ports: one Query of the `ROUTES` partition (see routes.ts). */
  listRoutes(): Promise<RouteEntry[]> {
    return listRoutes(this.table);
  }

  /**
   * Sets `host`'s ports as read (its `portsRevision`) to `ports`, with its route item and the route
   * table version; StateConflictError when the host was revoked or its ports changed meanwhile.
   */
  replacePorts(host: HostRecord, ports: readonly PortRoute[]): Promise<HostRecord> {
    return replacePorts(this.table, host, ports);
  }

  /**
   * Sets `host`'s owner as read (its `portsRevision`, shared with the ports), with its route item
   * and the route table version; StateConflictError when the host was revoked or changed meanwhile.
   */
  setOwner(host: HostRecord, owner: Principal): Promise<HostRecord> {
    return setOwner(this.table, host, owner);
  }

  // ---- egress (see egress-policies.ts) -----------------------------------------------------

  /** Sets the network's egress routes (canonical CIDRs) and moves the config version. */
  setEgressRoutes(routes: readonly string[]): Promise<void> {
    return setEgressRoutes(this.table, routes);
  }

  listEgressNodes(): Promise<EgressNodeRecord[]> {
    return listEgressNodes(this.table);
  }

  getEgressPolicy(organization: string): Promise<EgressPolicyRecord | undefined> {
    return getEgressPolicy(this.table, organization);
  }

  listEgressPolicies(): Promise<EgressPolicyRecord[]> {
    return listEgressPolicies(this.table);
  }

  /** A number that moves with every write that changes the egress nodes' rule feed (see egress-policies.ts). */
  getEgressVersion(): Promise<number> {
    return getEgressVersion(this.table);
  }

  /** Every environment not revoked with an owner, with its organisation: one strongly consistent Query. */
  listEgressMembers(): Promise<EgressMemberRecord[]> {
    return listEgressMembers(this.table);
  }

  /** Replaces an organisation's egress rules; with `expectedRevision`, only from that revision (StateConflictError otherwise). */
  putEgressPolicy(input: { organization: string; rules: readonly EgressRule[]; now: Date; expectedRevision?: number }): Promise<EgressPolicyRecord> {
    return putEgressPolicy(this.table, input);
  }

  /** Records an agent's call on its host's sighting item, at most once per interval (host-seen.ts); whether it wrote. */
  recordHostSeen(sighting: HostSighting): Promise<boolean> {
    return recordHostSeen(this.table, sighting);
  }

  // ---- revocation and housekeeping -------------------------------------------------------

  /** Revokes a host (see revocation.ts); undefined when there is no such host. */
  /** Blocklists the host's unexpired certificates other than `fingerprint`, its current one (certificate-retirement.ts). */
  retirePreviousCertificates(input: { hostId: string; fingerprint: string; now: Date }): Promise<string[]> {
    return retirePreviousCertificates(this.table, input);
  }

  async revokeHost(input: { hostId: string; now: Date; minQuarantineMs?: number }): Promise<HostRecord | undefined> {
    const host = await this.getHost(input.hostId);
    if (!host) return undefined;
    await revokeHost(this.table, host, input);
    return this.getHost(input.hostId);
  }

  /** Expired revocations out, ended quarantines into the pool. */
  sweep(now: Date): Promise<{ expiredRevocations: number; releasedAddresses: number }> {
    return sweep(this.table, now);
  }

  /** Bulk writes with the store's own item shapes (seeding benchmarks and tests). */
  batchPut(items: Item[]): Promise<void> {
    return this.table.batchPut(items);
  }
}

function certificateFields(cert: IssuedCertificate) {
  return { publicKey: cert.publicKey, certificate: cert.pem, certificateFingerprint: cert.fingerprint, certificateExpiresAt: iso(cert.notAfter) };
}
