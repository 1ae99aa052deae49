import { parseIpv4 } from '../mesh';
import type { ConntrackEntry } from './conntrack';
import { type ParsedCidr, cidrContains } from './feed';
import type { SourceHost } from './policy';

/** One line of the flow log: an outbound flow from the overlay, written when it ended. */
export interface FlowRecord {
  readonly event: 'egress_flow';
  readonly hostId: string | null;
  readonly name: string | null;
  readonly organization: string | null;
  readonly source: string;
  readonly sourcePort?: number;
  readonly destination: string;
  readonly proto: string;
  readonly port?: number;
  /** ISO 8601; from the flow's NEW event, else its end minus conntrack's delta-time. */
  readonly start: string | null;
  readonly end: string;
  readonly bytesOut: number | null;
  readonly bytesIn: number | null;
  readonly packetsOut: number | null;
  readonly packetsIn: number | null;
}

/** Whether an entry is a flow from the overlay to a destination outside it: what this node forwards. */
export function isEgressFlow(entry: ConntrackEntry, overlay: ParsedCidr): boolean {
  return cidrContains(overlay, parseIpv4(entry.original.src)) && !cidrContains(overlay, parseIpv4(entry.original.dst));
}

/**
 * Turns conntrack events into flow records: remembers when each egress flow started (its NEW
 * event, by conntrack id) and yields its record at its DESTROY event, which carries the byte
 * counters. Sources are named from the members of the feeds seen so far (`sources`).
 */
/** Remembered flow starts at most; past it the oldest is forgotten (lost DESTROY events must not grow memory). */
const MAX_OPEN_FLOWS = 262_144;

export class FlowLog {
  private readonly starts = new Map<string, Date>();

  constructor(private readonly overlay: ParsedCidr) {}

  observe(entry: ConntrackEntry, sources: ReadonlyMap<string, SourceHost>): FlowRecord | undefined {
    if (!isEgressFlow(entry, this.overlay)) return undefined;
    if (entry.event === 'NEW' && entry.id && entry.time) {
      this.starts.set(entry.id, entry.time);
      if (this.starts.size > MAX_OPEN_FLOWS) this.starts.delete(this.starts.keys().next().value as string);
      return undefined;
    }
    if (entry.event !== 'DESTROY') return undefined;
    const end = entry.time ?? new Date();
    const started = entry.id ? this.starts.get(entry.id) : undefined;
    if (entry.id) this.starts.delete(entry.id);
    const start = started ?? (entry.deltaSeconds === undefined ? undefined : new Date(end.getTime() - entry.deltaSeconds * 1000));
    const host = sources.get(entry.original.src);
    return {
      event: 'egress_flow',
      hostId: host?.hostId ?? null,
      name: host?.name ?? null,
      organization: host?.organization ?? null,
      source: entry.original.src,
      sourcePort: entry.original.sport,
      destination: entry.original.dst,
      proto: entry.proto,
      port: entry.original.dport,
      start: start?.toISOString() ?? null,
      end: end.toISOString(),
      bytesOut: entry.original.bytes ?? null,
      bytesIn: entry.reply.bytes ?? null,
      packetsOut: entry.original.packets ?? null,
      packetsIn: entry.reply.packets ?? null,
    };
  }

  /** Flows whose start is remembered (bounded by the kernel's conntrack table). */
  get open(): number {
    return this.starts.size;
  }
}
