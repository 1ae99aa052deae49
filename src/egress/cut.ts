import type { ConntrackEntry } from './conntrack';
import type { EgressFeed, ParsedCidr } from './feed';
import { isEgressFlow } from './flow-log';
import { allows } from './policy';

/** TCP states of a flow that has already ended: nothing left to cut. */
const ENDED = new Set(['TIME_WAIT', 'CLOSE']);

/**
 * The established egress flows that `feed` no longer allows: their conntrack entries are deleted
 * after the new ruleset is in place, so their next packet is a new flow the ruleset refuses.
 * Flows the feed still allows are left alone and keep working across the change.
 */
export function flowsToCut(entries: readonly ConntrackEntry[], feed: EgressFeed, overlay: ParsedCidr): ConntrackEntry[] {
  return entries.filter(
    (entry) =>
      !(entry.state !== undefined && ENDED.has(entry.state)) &&
      isEgressFlow(entry, overlay) &&
      !allows(feed, { source: entry.original.src, destination: entry.original.dst, proto: entry.proto, port: entry.original.dport }),
  );
}

/**
 * `conntrack -D` argument lists that delete `entries`: one per (protocol, source, destination,
 * port), since the policy decides on exactly those, so every flow matching one is refused alike;
 * a client opening many connections costs one call, not one per connection.
 */
export function deleteArguments(entries: readonly ConntrackEntry[]): string[][] {
  const calls = new Map<string, string[]>();
  for (const entry of entries) {
    const args = ['-D', '-p', entry.proto, '-s', entry.original.src, '-d', entry.original.dst];
    if (entry.original.dport !== undefined) args.push('--dport', String(entry.original.dport));
    calls.set(args.join(' '), args);
  }
  return [...calls.values()];
}
