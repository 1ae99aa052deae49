import type { NebulaCertificate } from './certificate';
import { formatIpv4Prefix } from './ipv4';

/** `nebula-cert print -json`'s object: Go marshals a map, so keys come out sorted. */
export interface CertificateJson {
  details: {
    groups: string[];
    ips: string[];
    isCa: boolean;
    issuer: string;
    name: string;
    notAfter: string;
    notBefore: string;
    publicKey: string;
    subnets: string[];
  };
  fingerprint: string;
  signature: string;
}

export function certificateToJson(cert: NebulaCertificate): CertificateJson {
  const d = cert.details;
  return {
    details: {
      groups: [...d.groups],
      ips: d.ips.map(formatIpv4Prefix),
      isCa: d.isCA,
      issuer: d.issuer,
      name: d.name,
      notAfter: rfc3339(d.notAfter),
      notBefore: rfc3339(d.notBefore),
      publicKey: Buffer.from(d.publicKey).toString('hex'),
      subnets: d.subnets.map(formatIpv4Prefix),
    },
    fingerprint: cert.fingerprint(),
    signature: Buffer.from(cert.signature).toString('hex'),
  };
}

/** One line of `nebula-cert print -json` (UTC), with Go's HTML-safe escaping of <, >, &. */
export function formatCertificateJson(cert: NebulaCertificate): string {
  return JSON.stringify(certificateToJson(cert)).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

/** `nebula-cert print`'s text (nebula's NebulaCertificate.String()), times in UTC. */
export function formatCertificateText(cert: NebulaCertificate): string {
  const d = cert.details;
  const list = (label: string, items: readonly string[]) =>
    items.length === 0 ? `\t\t${label}: []\n` : `\t\t${label}: [\n${items.map((i) => `\t\t\t${i}\n`).join('')}\t\t]\n`;
  return (
    'NebulaCertificate {\n' +
    '\tDetails {\n' +
    `\t\tName: ${d.name}\n` +
    list('Ips', d.ips.map(formatIpv4Prefix)) +
    list('Subnets', d.subnets.map(formatIpv4Prefix)) +
    list('Groups', d.groups.map((g) => `"${g}"`)) +
    `\t\tNot before: ${goTime(d.notBefore)}\n` +
    `\t\tNot After: ${goTime(d.notAfter)}\n` +
    `\t\tIs CA: ${d.isCA}\n` +
    `\t\tIssuer: ${d.issuer}\n` +
    `\t\tPublic key: ${Buffer.from(d.publicKey).toString('hex')}\n` +
    '\t}\n' +
    `\tFingerprint: ${cert.fingerprint()}\n` +
    `\tSignature: ${Buffer.from(cert.signature).toString('hex')}\n` +
    '}'
  );
}

/** Go's RFC 3339 form of a whole-second UTC time: `2026-11-26T10:00:28Z`. */
function rfc3339(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

/** Go's default time.Time format in UTC: `2026-11-26 10:00:28 +0000 UTC`. */
function goTime(date: Date): string {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}
