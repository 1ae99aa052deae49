import { encodePem, type NebulaCertificate, parseIpv4Prefix, parseX25519PublicKeyPem, PkiError, signCertificate, X25519_PUBLIC_KEY_BANNER } from '../pki';
import { certificateSubnets } from '../mesh/egress-choice';
import type { Signer } from '../pki/signer';
import type { GatewayStore, HostRecord, IssuedCertificate } from '../store';
import type { AdminRole } from './admin-roles';
import type { ChangeFeed } from './change-feed';
import { groupsOf } from './host-view';
import type { NetworkView, NetworkViewCache } from './network-view';
import type { RouteTableCache } from './route-table';
import { ApiProblem, validationProblem } from './problem';
import type { ApiLogger, ApiSettings, NodeVerifier } from './settings';

/** Everything a route handler needs, built once by createApi. */
export interface ApiContext {
  readonly store: GatewayStore;
  readonly signer: Signer;
  /** The next CA key, for a CA rotation (see ApiDependencies.nextSigner). */
  readonly nextSigner?: Signer;
  readonly views: NetworkViewCache;
  readonly feed: ChangeFeed;
  readonly settings: ApiSettings;
  readonly clock: () => Date;
  readonly adminTokenHash?: string;
  readonly adminRoles?: readonly AdminRole[];
  readonly nodeVerifier?: NodeVerifier;
  readonly logger?: ApiLogger;
  readonly tokenSigner?: Signer;
  /** The token signer's public key as a `PUBLIC KEY` (SPKI) PEM, read once. */
  readonly tokenPublicKeyPem: () => Promise<string | undefined>;
  readonly routes: RouteTableCache;
  readonly routesFeed: ChangeFeed;
}

/** Clock skew tolerated between the gateway and hosts: certificates start this much in the past. */
const BACKDATE_MS = 60_000;

/** A `NEBULA X25519 PUBLIC KEY` PEM, checked and in canonical form; 400 naming `field` otherwise. */
export function parsePublicKey(text: string, field = 'publicKey'): { bytes: Uint8Array; pem: string } {
  try {
    const bytes = parseX25519PublicKeyPem(text);
    return { bytes, pem: encodePem(X25519_PUBLIC_KEY_BANNER, bytes) };
  } catch (err) {
    if (err instanceof PkiError) throw validationProblem([{ field, message: err.message }]);
    throw err;
  }
}

/** Signs a certificate for `host` and `publicKey` with the network's current CA. */
export async function issueCertificate(ctx: ApiContext, view: NetworkView, host: HostRecord, publicKey: { bytes: Uint8Array; pem: string }): Promise<IssuedCertificate> {
  const signing = await ctx.views.signingCa(view);
  if (!signing) {
    throw new ApiProblem(503, 'no-signing-ca', 'Cannot sign', "no valid CA in the network's bundle matches the gateway's signing key");
  }
  const { ca, signer } = signing;
  const now = ctx.clock();
  const notBefore = new Date(Math.max(now.getTime() - BACKDATE_MS, ca.details.notBefore.getTime()));
  const notAfter = new Date(Math.min(now.getTime() + ctx.settings.certificateLifetimeSeconds * 1000, ca.details.notAfter.getTime()));
  const cert: NebulaCertificate = await signCertificate({
    ca,
    signer,
    name: host.name,
    ips: [parseIpv4Prefix(view.cidr.hostPrefix(host.ip))],
    groups: groupsOf(host),
    // nebula drops routed traffic to and from networks a certificate does not carry.
    subnets: certificateSubnets(host.role, view.egressRoutes),
    publicKey: publicKey.bytes,
    notBefore,
    notAfter,
    now,
  });
  return { pem: cert.toPem(), fingerprint: cert.fingerprint(), notAfter: cert.details.notAfter, publicKey: publicKey.pem };
}
