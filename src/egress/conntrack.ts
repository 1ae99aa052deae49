/**
 * Parsing of `conntrack` (conntrack-tools 1.4) text output: the events of
 * `conntrack -E -o timestamp,extended,id` and the entries of `conntrack -L -o extended,id`. Pure;
 * lines it does not understand yield undefined (the tool's banners, a future field layout).
 */
export interface ConntrackTuple {
  readonly src: string;
  readonly dst: string;
  readonly sport?: number;
  readonly dport?: number;
  /** Present with `nf_conntrack_acct=1`, on DESTROY events and listings. */
  readonly packets?: number;
  readonly bytes?: number;
}

export type ConntrackEventType = 'NEW' | 'UPDATE' | 'DESTROY';

export interface ConntrackEntry {
  /** Absent for `conntrack -L` lines. */
  readonly event?: ConntrackEventType;
  /** The event's time (`-o timestamp`). */
  readonly time?: Date;
  /** `tcp`, `udp`, `icmp`, … */
  readonly proto: string;
  readonly original: ConntrackTuple;
  readonly reply: ConntrackTuple;
  /** conntrack's id of the entry (`-o id`), the same on its NEW and DESTROY events. */
  readonly id?: string;
  /** Seconds the entry lived, with `nf_conntrack_timestamp=1`. */
  readonly deltaSeconds?: number;
  /** TCP state (`ESTABLISHED`, `TIME_WAIT`, …); absent for other protocols. */
  readonly state?: string;
}

const HEAD = /^(?:\[(\d+(?:\.\d+)?)\]\s+)?(?:\[(NEW|UPDATE|DESTROY)\]\s+)?(?:ipv4\s+2\s+)?([a-z0-9-]+)\s+\d+\s/;
const IPV4 = /^\d{1,3}(?:\.\d{1,3}){3}$/;
const NUMBER = /^\d+$/;
const STATE = /^[A-Z_]+$/;

interface MutableTuple {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  packets?: number;
  bytes?: number;
  icmpId?: boolean;
  icmp?: boolean;
}

/** One line of conntrack output; undefined when it is not an IPv4 entry or event. */
export function parseConntrackLine(line: string): ConntrackEntry | undefined {
  const head = HEAD.exec(line.trim());
  if (!head || line.includes('ipv6')) return undefined;
  const tuples: MutableTuple[] = [];
  let id: string | undefined;
  let deltaSeconds: number | undefined;
  let state: string | undefined;
  for (const token of line.trim().slice(head[0].length).split(/\s+/)) {
    const eq = token.indexOf('=');
    // The TCP state comes before the tuples (after the entry's timeout, when shown).
    if (eq < 0 && tuples.length === 0 && STATE.test(token)) state = token;
    if (eq < 0) continue;
    const key = token.slice(0, eq);
    const value = token.slice(eq + 1);
    if (key === 'src') {
      if (tuples.length === 2) return undefined;
      tuples.push({});
    }
    const tuple = tuples[tuples.length - 1];
    // The ICMP tuple has an `id=` of its own (the echo id) after `type=`; conntrack's id comes last.
    if (key === 'id' && tuple?.icmp && !tuple.icmpId) {
      tuple.icmpId = true;
    } else if (key === 'id') {
      id = NUMBER.test(value) ? value : undefined;
    } else if (key === 'delta-time') {
      deltaSeconds = NUMBER.test(value) ? Number(value) : undefined;
    } else if (tuple && (key === 'src' || key === 'dst')) {
      if (!IPV4.test(value)) return undefined;
      tuple[key] = value;
    } else if (tuple && (key === 'sport' || key === 'dport' || key === 'packets' || key === 'bytes')) {
      if (!NUMBER.test(value)) return undefined;
      tuple[key] = Number(value);
    } else if (tuple && key === 'type') {
      tuple.icmp = true;
    }
  }
  const [original, reply] = tuples;
  if (!original?.src || !original.dst || !reply?.src || !reply.dst) return undefined;
  const clean = ({ icmp: _icmp, icmpId: _icmpId, ...t }: MutableTuple) => t as ConntrackTuple;
  return {
    event: head[2] as ConntrackEventType | undefined,
    time: head[1] ? new Date(Math.round(Number(head[1]) * 1000)) : undefined,
    proto: head[3],
    original: clean(original),
    reply: clean(reply),
    id,
    deltaSeconds,
    ...(state === undefined ? {} : { state }),
  };
}
