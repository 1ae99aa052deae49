import type { CertificateDetails } from './certificate';
import { PkiError } from './errors';
import { formatIpv4Prefix, ipv4PrefixWithinAny } from './ipv4';

/**
 * nebula's CheckRootConstrains, in its order and with its messages: a certificate may not be
 * valid outside its CA's validity, and when the CA lists groups, IPs or subnets, the
 * certificate's must be among them.
 */
export function checkRootConstraints(cert: CertificateDetails, ca: CertificateDetails): void {
  if (ca.notAfter.getTime() < cert.notAfter.getTime()) {
    throw new PkiError('outside-ca-validity', 'certificate expires after signing certificate');
  }
  if (ca.notBefore.getTime() > cert.notBefore.getTime()) {
    throw new PkiError('outside-ca-validity', 'certificate is valid before the signing certificate');
  }
  if (ca.groups.length > 0) {
    for (const group of cert.groups) {
      if (!ca.groups.includes(group)) {
        throw new PkiError('group-not-in-ca', `certificate contained a group not present on the signing ca: ${group}`);
      }
    }
  }
  if (ca.ips.length > 0) {
    for (const ip of cert.ips) {
      if (!ipv4PrefixWithinAny(ip, ca.ips)) {
        throw new PkiError(
          'ip-outside-ca',
          `certificate contained an ip assignment outside the limitations of the signing ca: ${formatIpv4Prefix(ip)}`,
        );
      }
    }
  }
  if (ca.subnets.length > 0) {
    for (const subnet of cert.subnets) {
      if (!ipv4PrefixWithinAny(subnet, ca.subnets)) {
        throw new PkiError(
          'subnet-outside-ca',
          `certificate contained a subnet assignment outside the limitations of the signing ca: ${formatIpv4Prefix(subnet)}`,
        );
      }
    }
  }
}
