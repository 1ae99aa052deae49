import type { ConntrackEntry } from './conntrack';
import type { EgressFeed, ParsedCidr } from './feed';
import { isEgressFlow } from './flow-log';
import { allows } from './policy';

/**
 * The established egress flows that `feed` no longer allows: their conntrack entries are deleted
 * after the new ruleset is in place, so their next packet is a new flow the ruleset refuses.
 * Flows the feed still allows are left alone and keep working across the change.
 */
export function flowsToCut(entries: readonly ConntrackEntry[], feed: EgressFeed, overlay: ParsedCidr): ConntrackEntry[] {
  return entries.filter(
    (entry) =>
      isEgressFlow(entry, overlay) &&
      !allows(feed, { source: entry.original.src, destination: entry.original.dst, proto: entry.proto, port: entry.original.dport }),
  );
}

/** `conntrack -D` arguments that delete exactly this entry (its original tuple). */
export function deleteArguments(entry: ConntrackEntry): string[] {
  const args = ['-D', '-p', entry.proto, '-s', entry.original.src, '-d', entry.original.dst];
  if (entry.original.sport !== undefined) args.push('--sport', String(entry.original.sport));
  if (entry.original.dport !== undefined) args.push('--dport', String(entry.original.dport));
  return args;
}
