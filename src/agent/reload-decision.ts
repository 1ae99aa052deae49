import { readCertificateFacts } from './certificate-facts';

/** What the agent must do to nebula after the config on disk changed. */
export type NebulaAction = 'none' | 'reload' | 'restart';

/** The parts of an applied config the decision looks at. */
export interface AppliedConfig {
  /** The nebula config, parsed (YAML document as plain data). */
  readonly config: unknown;
  /** The first IP of the host certificate, e.g. `10.42.0.5/16`. */
  readonly certificateIp: string;
}

export interface Decision {
  readonly action: NebulaAction;
  /** Dotted config keys (or `certificate ip`) that changed, for the log line. */
  readonly changed: readonly string[];
}

/**
 * Settings nebula 1.6 reads at start only: SIGHUP does not apply them. `tun` includes
 * `tun.unsafe_routes` (the egress routes): checked with nebula 1.6.1, a SIGHUP leaves the kernel
 * routes of the old list in place.
 */
export const RESTART_KEYS: readonly string[] = ['tun', 'listen', 'lighthouse.am_lighthouse', 'pki.disconnect_invalid', 'cipher'];

/**
 * Compares the running config with the new one: nothing changed → none; a change nebula
 * cannot reload (a start-only key, a certificate with another IP, which a reload refuses, or
 * with other subnets) → restart; any other change → reload (SIGHUP).
 */
export function decideNebulaAction(previous: AppliedConfig, next: AppliedConfig): Decision {
  const changed = changedKeys(previous.config, next.config);
  const ipChanged = previous.certificateIp !== next.certificateIp;
  if (ipChanged) changed.push('certificate ip');
  // New subnets (an egress node's routes) are usable only in new tunnels: nebula 1.6 keeps the
  // certificate a tunnel was made with, and peers check routed traffic against it; a reload does
  // not re-handshake (nor rebuild the firewall's own addresses, which holds them too).
  const subnetsChanged = changed.includes('pki.cert') && certificateSubnets(previous.config) !== certificateSubnets(next.config);
  if (subnetsChanged) changed.push('certificate subnets');
  if (changed.length === 0) return { action: 'none', changed };
  const needsRestart = ipChanged || subnetsChanged || changed.some((key) => RESTART_KEYS.some((r) => key === r || key.startsWith(`${r}.`)));
  return { action: needsRestart ? 'restart' : 'reload', changed };
}

/**
 * Dotted paths of the keys whose values differ, descending into objects. A start-only key
 * nested deeper than the restart list (e.g. `tun.mtu`) is reported as itself.
 */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (sameData(a, b)) return [];
  if (!isPlainObject(a) || !isPlainObject(b)) return [prefix || '(root)'];
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  return keys.flatMap((key) => changedKeys(a[key], b[key], prefix ? `${prefix}.${key}` : key));
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Structural equality of parsed YAML data (plain values, arrays, mappings), whatever realm made them. */
function sameData(a: unknown, b: unknown): boolean {
  if (Array.isArray(a) || Array.isArray(b)) return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((v, i) => sameData(v, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = Object.keys(a);
    return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameData(a[k], b[k]));
  }
  return Object.is(a, b);
}

/** The subnets of the config's `pki.cert`, as one comparable string; undefined when it holds none readable. */
function certificateSubnets(config: unknown): string | undefined {
  const pem = isPlainObject(config) && isPlainObject(config.pki) ? config.pki.cert : undefined;
  if (typeof pem !== 'string') return undefined;
  try {
    return [...readCertificateFacts(pem).subnets].sort().join(',');
  } catch {
    return undefined;
  }
}
