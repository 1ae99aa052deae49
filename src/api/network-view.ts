import { Ipv4Cidr, type NetworkPolicy } from '../mesh';
import { type NebulaCertificate, parseCertificateBundle } from '../pki';
import type { Signer } from '../pki/signer';
import { type GatewayStore, type LighthouseRecord, NetworkNotInitialisedError, type RevocationRecord } from '../store';

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
  private cached: Promise<NetworkView> | undefined;
  private cachedVersion: number | undefined;
  /** When the cached version was last confirmed against the store (monotonic ms). */
  private confirmedAt = -Infinity;
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
    private readonly maxStalenessMs: number,
  ) {}

  async current(): Promise<NetworkView> {
    if (this.cached && performance.now() - this.confirmedAt < this.maxStalenessMs) return this.cached;
    const version = await this.store.getConfigVersion();
    this.confirmedAt = performance.now();
    if (this.cached && this.cachedVersion === version) return this.cached;
    // Read the version first, then the data: a view may be newer than its version, never older.
    const loading = this.load(version);
    this.cached = loading;
    this.cachedVersion = version;
    loading.catch(() => {
      if (this.cached === loading) this.invalidate();
    });
    return loading;
  }

  /** Read the version again on next use (another instance may have changed the network). */
  recheck(): void {
    this.confirmedAt = -Infinity;
  }

  /** Forget the cached view (this process just changed the network). */
  invalidate(): void {
    this.confirmedAt = -Infinity;
    this.cached = undefined;
    this.cachedVersion = undefined;
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
