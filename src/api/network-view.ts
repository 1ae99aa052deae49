import { Ipv4Cidr } from '../mesh/cidr';
import type { NetworkPolicy } from '../mesh/firewall';
import { type NebulaCertificate, parseCertificateBundle } from '../pki';
import type { Signer } from '../pki/signer';
import { type CaRotationRecord, type EgressNodeRecord, type GatewayStore, type LighthouseRecord, NetworkNotInitialisedError, type RevocationRecord } from '../store';
import { signingCaPem } from './ca-rotation';
import { BlocklistHistory } from './config-delta';
import { contentPart } from './etag';
import { DEFAULT_API_SETTINGS } from './settings';
import { VersionedCache } from './versioned-cache';

/** What every host's config shares, as of one config version. */
export interface NetworkView {
  readonly version: number;
  readonly cidr: Ipv4Cidr;
  readonly caBundle: string;
  readonly caCertificates: readonly NebulaCertificate[];
  /** The CA rotation under way or last completed (src/api/ca-rotation.ts). */
  readonly caRotation?: CaRotationRecord;
  readonly policy: NetworkPolicy;
  readonly lighthouses: readonly LighthouseRecord[];
  /** Networks environments reach through the egress nodes (canonical CIDRs, sorted). */
  readonly egressRoutes: readonly string[];
  /** The active egress nodes, by host id. */
  readonly egressNodes: readonly EgressNodeRecord[];
  /** Revocations unexpired when the view was loaded; filter by the current time before use. */
  readonly revocations: readonly RevocationRecord[];
  /** A hash of everything here that every host's config carries, except the blocklist (see configTag). */
  readonly shape: string;
}

/** The blocklist at one moment: sorted fingerprints, their content hash, and when it next changes by itself. */
export interface Blocklist {
  readonly fingerprints: readonly string[];
  readonly part: string;
  readonly nextExpiry?: Date;
}

/**
 * Caches the network-wide part of configs per config version: a config request costs one
 * GetItem of the version item, and reloads lighthouses and the blocklist (key-condition queries)
 * only when the version moved. Nothing here grows with the number of hosts.
 */
export class NetworkViewCache {
  private readonly views: VersionedCache<NetworkView>;
  private signing: Promise<{ ca: NebulaCertificate; signer: Signer }[]> | undefined;
  /** One read of the version at a time, shared by every request that asks meanwhile (a wake-up of thousands of watchers). */
  private reading: Promise<NetworkView> | undefined;
  private lastBlocklist: { view: NetworkView; at: number; value: Blocklist } | undefined;
  /** The blocklists served lately, for config deltas. */
  readonly blocklists: BlocklistHistory;

  /**
   * @param maxStalenessMs how long a confirmed version is trusted without reading it again. Changes
   *   made by this process invalidate at once; other instances' changes show within this time,
   *   as long-polls see them within the version poll interval.
   */
  constructor(
    private readonly store: GatewayStore,
    /** The CA keys this gateway holds: the current one, and the next one while a rotation may use it. */
    private readonly signers: readonly Signer[],
    private readonly clock: () => Date,
    maxStalenessMs: number,
    blocklistHistory = DEFAULT_API_SETTINGS.blocklistHistory,
  ) {
    this.views = new VersionedCache(() => store.getConfigVersion(), (version) => this.load(version), maxStalenessMs);
    this.blocklists = new BlocklistHistory(blocklistHistory);
  }

  current(): Promise<NetworkView> {
    this.reading ??= this.views.current().finally(() => {
      this.reading = undefined;
    });
    return this.reading;
  }

  /** The blocklist of `view` at `now`, computed once per view until a revocation in it expires; remembered for deltas. */
  blocklist(view: NetworkView, now: Date): Blocklist {
    const at = now.getTime();
    const last = this.lastBlocklist;
    if (last && last.view === view && at >= last.at && (last.value.nextExpiry === undefined || at < last.value.nextExpiry.getTime())) return last.value;
    const value = blocklistOf(view, now);
    this.lastBlocklist = { view, at, value };
    this.blocklists.remember(value.part, value.fingerprints);
    return value;
  }

  /** Read the version again on next use (another instance may have changed the network). */
  recheck(): void {
    this.views.recheck();
  }

  /** Forget the cached view (this process just changed the network). */
  invalidate(): void {
    this.views.invalidate();
  }

  /**
   * The CA certificates are signed with now, and the signer holding its key: the one a CA rotation's
   * phase names (src/api/ca-rotation.ts), else the bundle's CA whose key a signer holds, valid now
   * (the latest such when several).
   */
  async signingCa(view: NetworkView): Promise<{ ca: NebulaCertificate; signer: Signer } | undefined> {
    // A next key that does not exist yet (made when a rotation starts) matches nothing.
    const keyOf = (signer: Signer, i: number) => signer.publicKey().then((key) => Buffer.from(key), (err: unknown) => (i === 0 ? Promise.reject(err) : undefined));
    const signing = (this.signing ??= Promise.all(this.signers.map(async (signer, i) => ({ signer, key: await keyOf(signer, i) }))).then((held) => {
      // Asked again next time: the key may exist by then.
      if (held.some((h) => h.key === undefined) && this.signing === signing) this.signing = undefined;
      return view.caCertificates.flatMap((ca) => {
        const match = held.find((h) => h.key?.equals(Buffer.from(ca.details.publicKey)));
        return match ? [{ ca, signer: match.signer }] : [];
      });
    }));
    const now = this.clock().getTime();
    const phaseCa = signingCaPem(view.caRotation);
    const candidates = (await signing).filter(
      ({ ca }) => ca.details.notBefore.getTime() <= now && ca.details.notAfter.getTime() > now && (phaseCa === undefined || ca.toPem().trim() === phaseCa.trim()),
    );
    return candidates.sort((a, b) => b.ca.details.notAfter.getTime() - a.ca.details.notAfter.getTime())[0];
  }

  private async load(version: number): Promise<NetworkView> {
    const [network, lighthouses, revocations, egressNodes] = await Promise.all([
      this.store.getNetwork(),
      this.store.listLighthouses(),
      this.store.listActiveRevocations(this.clock()),
      this.store.listEgressNodes(),
    ]);
    if (!network) throw new NetworkNotInitialisedError(this.store.tableName);
    this.signing = undefined;
    const ordered = [...lighthouses].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
    const egressRoutes = network.egressRoutes ?? [];
    const egress = [...egressNodes].sort((a, b) => (a.hostId < b.hostId ? -1 : a.hostId > b.hostId ? 1 : 0));
    // Only a network that uses egress hashes it: the configs of one that does not keep their ETags.
    const egressShape = egressRoutes.length > 0 || egress.length > 0 ? [egressRoutes, egress] : [];
    return {
      version,
      cidr: Ipv4Cidr.parse(network.cidr),
      caBundle: network.caBundle,
      caCertificates: parseCertificateBundle(network.caBundle),
      caRotation: network.caRotation,
      policy: network.policy,
      lighthouses: ordered,
      egressRoutes,
      egressNodes: egress,
      revocations,
      shape: contentPart(JSON.stringify([network.cidr, network.caBundle, network.policy, ordered, ...egressShape])),
    };
  }
}

/**
 * Fingerprints to block at `now`, sorted (so a config patched by a delta is the config rendered
 * whole), their content hash, and when the next one expires (the config changes then).
 */
export function blocklistOf(view: NetworkView, now: Date): Blocklist {
  const at = now.toISOString();
  const live = view.revocations.filter((r) => r.expiresAt > at);
  const next = live.reduce<string | undefined>((min, r) => (min === undefined || r.expiresAt < min ? r.expiresAt : min), undefined);
  const fingerprints = [...new Set(live.map((r) => r.fingerprint))].sort();
  return { fingerprints, part: contentPart(fingerprints.join('\n')), nextExpiry: next ? new Date(next) : undefined };
}
