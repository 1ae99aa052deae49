import { type ConfigTag, configEtag } from './etag';

/** The media type of a config delta; sent only to a client that lists it in `Accept`. */
export const CONFIG_DELTA_TYPE = 'application/vnd.nebula-gateway.config-delta+json';

/**
 * `GET /v1/hosts/{id}/config` answered with what changed since the client's config (`from`, the
 * ETag it sent): the blocklist's additions and removals. Applying them to the config named `from`
 * gives the config named `to`, the ETag of the answer.
 */
export interface ConfigDelta {
  readonly from: string;
  readonly to: string;
  readonly blocklist: { readonly add: readonly string[]; readonly remove: readonly string[] };
}

/** Whether an `Accept` header lists the config delta type (parameters and q-values are ignored, except q=0). */
export function acceptsConfigDelta(accept: string | undefined): boolean {
  if (!accept) return false;
  return accept.split(',').some((range) => {
    const [type, ...params] = range.split(';').map((p) => p.trim().toLowerCase());
    return type === CONFIG_DELTA_TYPE && !params.some((p) => /^q=0(\.0*)?$/.test(p));
  });
}

/** The blocklist changes from `from` to `to`, both sorted lists of fingerprints. */
export function blocklistChanges(from: readonly string[], to: readonly string[]): ConfigDelta['blocklist'] {
  const before = new Set(from);
  const after = new Set(to);
  return { add: to.filter((f) => !before.has(f)), remove: from.filter((f) => !after.has(f)) };
}

export function configDelta(from: ConfigTag, to: ConfigTag, blocklist: ConfigDelta['blocklist']): ConfigDelta {
  return { from: configEtag(from), to: configEtag(to), blocklist };
}

/**
 * The blocklists this process has served, by blocklist part, most recently used last: what a
 * delta is computed from. Bounded: an older state (or one seen only by another process, or before
 * a restart) is a gap, answered with the full config.
 */
export class BlocklistHistory {
  private readonly states = new Map<string, readonly string[]>();

  constructor(private readonly capacity: number) {}

  remember(part: string, fingerprints: readonly string[]): void {
    this.states.delete(part);
    this.states.set(part, fingerprints);
    while (this.states.size > this.capacity) this.states.delete(this.states.keys().next().value as string);
  }

  get(part: string): readonly string[] | undefined {
    return this.states.get(part);
  }
}
