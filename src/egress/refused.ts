import type { SourceHost } from './policy';

/** One element of the ruleset's `refused` set: a tuple the policy dropped lately. */
export interface RefusedTuple {
  readonly source: string;
  readonly destination: string;
  readonly proto: string;
  readonly port: number;
  readonly packets?: number;
}

/** A refusal log line: the first dropped packet of a tuple not refused within the set's timeout. */
export interface RefusedRecord {
  readonly event: 'egress_flow_refused';
  readonly hostId: string | null;
  readonly name: string | null;
  readonly organization: string | null;
  readonly source: string;
  readonly destination: string;
  readonly proto: string;
  readonly port: number;
  /** Packets dropped for this tuple when the node looked (one per SYN retry, say). */
  readonly packets: number | null;
  readonly time: string;
}

const PROTOCOLS: Readonly<Record<number, string>> = { 6: 'tcp', 17: 'udp' };

/** The elements of `nft -j list set inet gateway_egress refused` (nftables 1.0 JSON). */
export function parseRefusedSet(json: string): RefusedTuple[] {
  const doc = JSON.parse(json) as { nftables?: Array<Record<string, unknown>> };
  const set = doc.nftables?.find((item) => 'set' in item)?.set as { elem?: unknown[] } | undefined;
  const tuples: RefusedTuple[] = [];
  for (const raw of set?.elem ?? []) {
    // Elements with a timeout or counter come wrapped: {elem: {val: {concat: [...]}, counter: {...}}}.
    const wrapped = (raw as { elem?: { val?: unknown; counter?: { packets?: number } } }).elem;
    const value = (wrapped ? wrapped.val : raw) as { concat?: unknown[] } | undefined;
    const parts = value?.concat;
    if (!Array.isArray(parts) || parts.length !== 4) continue;
    const [source, destination, proto, port] = parts;
    if (typeof source !== 'string' || typeof destination !== 'string' || typeof port !== 'number') continue;
    const protoName = typeof proto === 'number' ? (PROTOCOLS[proto] ?? String(proto)) : String(proto);
    tuples.push({ source, destination, proto: protoName, port, packets: wrapped?.counter?.packets });
  }
  return tuples;
}

const key = (t: RefusedTuple) => `${t.source} ${t.destination} ${t.proto} ${t.port}`;

/**
 * Turns successive readings of the `refused` set into log lines: a tuple yields one line when it
 * first appears; it is forgotten when it leaves the set (no refusal within the set's timeout), so
 * a later refusal logs again. Reading the set rather than a kernel log works inside any network
 * namespace and does not depend on a syslog.
 */
export class RefusedLog {
  private seen = new Set<string>();

  observe(tuples: readonly RefusedTuple[], sources: ReadonlyMap<string, SourceHost>, now: Date): RefusedRecord[] {
    const current = new Set(tuples.map(key));
    const fresh = tuples.filter((t) => !this.seen.has(key(t)));
    this.seen = current;
    return fresh.map((t) => {
      const host = sources.get(t.source);
      return {
        event: 'egress_flow_refused',
        hostId: host?.hostId ?? null,
        name: host?.name ?? null,
        organization: host?.organization ?? null,
        source: t.source,
        destination: t.destination,
        proto: t.proto,
        port: t.port,
        packets: t.packets ?? null,
        time: now.toISOString(),
      };
    });
  }
}
