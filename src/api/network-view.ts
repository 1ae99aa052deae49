import { Ipv4Cidr } from '../mesh/cidr';
import type { NetworkPolicy } from '../mesh/firewall';
import { type NebulaCertificate, parseCertificateBundle } from '../pki';
import type { Signer } from '../pki/signer';
import { type GatewayStore, type LighthouseRecord, NetworkNotInitialisedError, type RevocationRecord } from '../store';
import { VersionedCache } from './versioned-cache';

/** What every host's config shares, as of one config version. */
export interface NetworkView {
  readonly version: number;
  readonly cidr: Ipv4Cidr;
  readonly caBundle: string;
  readonly caCertificates: readonly NebulaCertificate[];
  readonly policy: NetworkPolicy;
  readonly lighthouses: readonly LighthouseRecord[];
  /** Revocations unexpired when the view was loaded; filter by the current time before use. */
  readonly revocations: readonly RevocationRecord[];
}

/**
 * Caches the network-wide part of configs per config version: a config request costs one
 * GetItem of the version item, and reloads lighthouses and the blocklist (key-condition queries)
 * only when the version moved. Nothing here grows with the number of hosts.
 */
export class NetworkViewCache {
  private readonly views: VersionedCache<NetworkView>;
  private signing: Promise<NebulaCertificate[]> | undefined;

  /**
   * @param maxStalenessMs how long a confirmed version is trusted without reading it again. Changes
   *   made by this process invalidate at once; other instances' changes show within this time,
   *   as long-polls see them within the version poll interval.
   */
  constructor(
    private readonly store: GatewayStore,
    private readonly signer: Signer,
    private readonly clock: () => Date,
    maxStalenessMs: number,
  ) {
    this.views = new VersionedCache(() => store.getConfigVersion(), (version) => this.load(version), maxStalenessMs);
  }

  current(): Promise<NetworkView> {
    return this.views.current();
  }

  /** Read the version again on next use (another instance may have changed the network). */
  recheck(): void {
    this.views.recheck();
  }

  /** Forget the cached view (this process just changed the network). */
  invalidate(): void {
    this.views.invalidate();
  }

  /** The CA in the bundle whose key the signer holds, valid now (the latest such when several). */
  async signingCa(view: NetworkView): Promise<NebulaCertificate | undefined> {
    this.signing ??= this.signer.publicKey().then((key) =>
      view.caCertificates.filter((ca) => Buffer.from(ca.details.publicKey).equals(Buffer.from(key))),
    );
    const now = this.clock().getTime();
    const candidates = (await this.signing).filter((ca) => ca.details.notBefore.getTime() <= now && ca.details.notAfter.getTime() > now);
    return candidates.sort((a, b) => b.details.notAfter.getTime() - a.details.notAfter.getTime())[0];
  }

  private async load(version: number): Promise<NetworkView> {
    const [network, lighthouses, revocations] = await Promise.all([
      this.store.getNetwork(),
      this.store.listLighthouses(),
      this.store.listActiveRevocations(this.clock()),
    ]);
    if (!network) throw new NetworkNotInitialisedError(this.store.tableName);
    this.signing = undefined;
    return {
      version,
      cidr: Ipv4Cidr.parse(network.cidr),
      caBundle: network.caBundle,
      caCertificates: parseCertificateBundle(network.caBundle),
      policy: network.policy,
      lighthouses,
      revocations,
    };
  }
}

/** Fingerprints to block at `now`, and when the next one expires (the config changes then). */
export function blocklistAt(view: NetworkView, now: Date): { fingerprints: string[]; nextExpiry?: Date } {
  const at = now.toISOString();
  const live = view.revocations.filter((r) => r.expiresAt > at);
  const next = live.reduce<string | undefined>((min, r) => (min === undefined || r.expiresAt < min ? r.expiresAt : min), undefined);
  return { fingerprints: live.map((r) => r.fingerprint), nextExpiry: next ? new Date(next) : undefined };
}
