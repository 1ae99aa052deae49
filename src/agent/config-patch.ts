import type { ConfigDelta } from './api-client';
import { ConfigFormatError, renderLocalConfig } from './local-config';

/**
 * The running config with a delta's blocklist changes applied: removals out, additions in, sorted
 * (the API renders its blocklist sorted, so the patched config is the one it would send whole).
 * Everything else is left as it is. Pure: returns a new document and its YAML.
 */
export function patchBlocklist(config: unknown, change: ConfigDelta['blocklist']): { document: Record<string, unknown>; yaml: string } {
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new ConfigFormatError('the running config is not a YAML mapping');
  const document = structuredClone(config) as Record<string, unknown>;
  const pki = document.pki;
  if (typeof pki !== 'object' || pki === null || Array.isArray(pki)) throw new ConfigFormatError('the running config has no pki section');
  const current = (pki as Record<string, unknown>).blocklist ?? [];
  if (!Array.isArray(current) || !current.every((f) => typeof f === 'string')) throw new ConfigFormatError('pki.blocklist of the running config is not a list of fingerprints');
  const removed = new Set(change.remove);
  const blocklist = [...new Set([...current.filter((f) => !removed.has(f)), ...change.add])].sort();
  document.pki = { ...(pki as Record<string, unknown>), blocklist };
  return { document, yaml: renderLocalConfig(document) };
}
