import { certificateSubnets } from '../mesh/egress-choice';
import { formatIpv4Prefix, parseCertificateBundle } from '../pki';
import type { HostRecord } from '../store';
import type { ApiContext } from './context';
import { issueCertificate, parsePublicKey } from './context';
import type { NetworkView } from './network-view';

/** Whether `host`'s current certificate carries the subnets it should (see certificateSubnets). */
export function hasCurrentSubnets(host: HostRecord, view: Pick<NetworkView, 'egressRoutes'>): boolean {
  if (!host.certificate) return true;
  const [certificate] = parseCertificateBundle(host.certificate);
  const held = certificate.details.subnets.map(formatIpv4Prefix).sort();
  const wanted = certificateSubnets(host.role, view.egressRoutes).sort();
  return held.length === wanted.length && held.every((subnet, i) => subnet === wanted[i]);
}

/**
 * An egress node whose certificate carries other subnets than the network's egress routes (they
 * changed) gets a new certificate for the same key, here, when it fetches its config: its agent
 * installs the certificate from the config like a renewal, with no step of its own. Where this
 * process cannot sign (an API function without the CA key) the host keeps its certificate, and
 * gets the new one from the gateway server, where agents watch.
 */
export async function withCurrentEgressCertificate(ctx: ApiContext, host: HostRecord, view: NetworkView): Promise<HostRecord> {
  if (host.role !== 'egress' || host.status !== 'active' || !host.publicKey || hasCurrentSubnets(host, view)) return host;
  try {
    const certificate = await issueCertificate(ctx, view, host, parsePublicKey(host.publicKey));
    const renewed = await ctx.store.recordCertificate({ host, certificate, expectedCredentialHash: host.credentialHash, now: ctx.clock() });
    ctx.logger?.info('egress certificate reissued', { hostId: host.id, fingerprint: certificate.fingerprint, subnets: view.egressRoutes.join(',') });
    return renewed;
  } catch (err) {
    ctx.logger?.error('egress certificate not reissued', { hostId: host.id, error: (err as Error)?.message ?? String(err) });
    return host;
  }
}
