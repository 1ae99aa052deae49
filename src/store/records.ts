import type { NetworkPolicy, Role } from '../mesh';
import type { EgressRule } from '../mesh/egress-policy';
import type { PortRoute, Principal } from '../mesh/routes';
import type { CaRotationRecord } from './ca-rotation';

/** The network: overlay CIDR, CA bundle (PEM blocks), firewall policy. */
export interface NetworkRecord {
  readonly cidr: string;
  /** One or more `NEBULA CERTIFICATE` PEM blocks (the CAs hosts trust). */
  readonly caBundle: string;
  readonly policy: NetworkPolicy;
  readonly createdAt: string;
  /**
   * IPv4 CIDRs environments reach through the egress nodes (canonical, sorted); absent: none.
   * Egress nodes' certificates carry them as `subnets`; environments' configs route them.
   */
  readonly egressRoutes?: readonly string[];
  /** The CA rotation under way or last completed; absent before the first one. */
  readonly caRotation?: CaRotationRecord;
}

/** An egress node as environments' configs route through it: present while the host is active. */
export interface EgressNodeRecord {
  readonly hostId: string;
  readonly ip: string;
}

/** An environment an egress node admits: not revoked, with an owner in `organization`. */
export interface EgressMemberRecord {
  readonly hostId: string;
  readonly name: string;
  readonly ip: string;
  readonly organization: string;
}

/** An organisation's egress policy: what its environments may reach through the egress nodes. */
export interface EgressPolicyRecord {
  readonly organization: string;
  readonly rules: readonly EgressRule[];
  /** Moves by one with every write; 0 for a policy never set. */
  readonly revision: number;
  /** Absent for a policy never set. */
  readonly updatedAt?: string;
}

export type HostStatus = 'pending' | 'active' | 'revoked';

/** A host as stored, secrets only as hashes. */
export interface HostRecord {
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  readonly ip: string;
  readonly groups: readonly string[];
  readonly status: HostStatus;
  readonly createdAt: string;
  readonly endpoints?: readonly string[];
  /** SHA-256 of the enrollment token, while the token may still be used. */
  readonly tokenHash?: string;
  /** `NEBULA X25519 PUBLIC KEY` PEM of the current certificate. */
  readonly publicKey?: string;
  readonly certificate?: string;
  readonly certificateFingerprint?: string;
  readonly certificateExpiresAt?: string;
  readonly credentialHash?: string;
  /** Set the first time the host authenticates with its credential; the token is dead from then on. */
  readonly credentialUsedAt?: string;
  readonly enrolledAt?: string;
  readonly revokedAt?: string;
  /** EC2 instance id of a node that registered itself. */
  readonly instanceId?: string;
  /** Who the environment belongs to; the proxy's `private` and `organization` access compare with it. */
  readonly owner?: Principal;
  /** Ports the proxies publish, sorted by port (environments only). */
  readonly ports?: readonly PortRoute[];
  /** Moves with every change of `ports`: the optimistic lock of read-modify-write port changes. */
  readonly portsRevision?: number;
  /** When the host's agent last called the API (recorded at most every 10 minutes: host-seen.ts). */
  readonly lastSeenAt?: string;
  /** The agent's and nebula's versions it last named (`User-Agent: gateway-agent/<v> nebula/<v>`). */
  readonly agentVersion?: string;
  readonly nebulaVersion?: string;
}

export interface EnrollmentTokenRecord {
  readonly hash: string;
  readonly hostId: string;
  readonly expiresAt: string;
  /** The public key of the first enrollment; a retry must present the same one. */
  readonly publicKey?: string;
}

export interface LighthouseRecord {
  readonly hostId: string;
  readonly ip: string;
  readonly endpoints: readonly string[];
}

export interface RevocationRecord {
  readonly fingerprint: string;
  readonly hostId: string;
  readonly expiresAt: string;
}

/** A certificate issued to a host, kept until it expires so a revocation can blocklist it. */
export interface IssuedCertificate {
  readonly pem: string;
  readonly fingerprint: string;
  readonly notAfter: Date;
  readonly publicKey: string;
}
