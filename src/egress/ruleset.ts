import type { EgressFeed, EgressRule } from './feed';

/** The one nftables table the egress node owns; replacing it never touches anyone else's rules. */
export const EGRESS_TABLE = 'gateway_egress';
/** The dynamic set where refused (source, destination, protocol, port) tuples are recorded. */
export const REFUSED_SET = 'refused';
/** How long a refused tuple stays in the set: one refusal log line per tuple per this window. */
export const REFUSED_TIMEOUT_SECONDS = 60;

export interface RenderOptions {
  /** nebula's tun device on the egress node (`tun.dev` of its config). */
  readonly tunDevice: string;
}

const DEVICE = /^[A-Za-z0-9_.-]{1,15}$/;

function quote(text: string): string {
  // Comments are informational; anything that could end the string or the line is replaced.
  return `"${text.replace(/[^A-Za-z0-9 ._@:/-]/g, '_')}"`;
}

function portMatch(rule: EgressRule): string {
  if (rule.ports === 'any') return rule.proto === 'any' ? '' : ` meta l4proto ${rule.proto}`;
  const range = rule.ports.from === rule.ports.to ? String(rule.ports.from) : `${rule.ports.from}-${rule.ports.to}`;
  return rule.proto === 'any' ? ` meta l4proto { tcp, udp } th dport ${range}` : ` ${rule.proto} dport ${range}`;
}

/**
 * The whole nftables script for `feed`, run as one `nft -f` transaction: it (re)creates
 * `table inet gateway_egress` from scratch, so a policy change is atomic and nothing of an older
 * policy survives. Forwarded traffic from the overlay (`tunDevice`) is accepted only when its
 * source is a member of an organisation and a rule of that organisation matches; replies of
 * accepted flows pass as established; everything else from the overlay is refused, counted, and
 * its tuple recorded in the `refused` set (read by the node for the refusal log). A refused TCP
 * packet is answered with a reset, so a connection fails at once instead of hanging, and a flow
 * cut by a policy change ends at its next packet; other refused packets are dropped. Traffic that
 * neither enters nor leaves the overlay is not this table's business. Flows out are masqueraded
 * behind the node's own address.
 */
export function renderRuleset(feed: EgressFeed, options: RenderOptions): string {
  if (!DEVICE.test(options.tunDevice)) throw new Error(`tun device '${options.tunDevice.slice(0, 40)}' is not a Linux interface name`);
  const tun = `"${options.tunDevice}"`;
  const lines: string[] = [
    `table inet ${EGRESS_TABLE}`,
    `delete table inet ${EGRESS_TABLE}`,
    `table inet ${EGRESS_TABLE} {`,
    `\tcomment ${quote(`gateway egress policy ${feed.version}`)}`,
  ];
  feed.organizations.forEach((org, i) => {
    lines.push(`\tset org_${i} {`, `\t\ttype ipv4_addr`, `\t\tcomment ${quote(org.organization)}`);
    if (org.members.length > 0) lines.push(`\t\telements = { ${org.members.map((m) => m.ip).join(', ')} }`);
    lines.push('\t}');
  });
  lines.push(
    `\tset ${REFUSED_SET} {`,
    '\t\ttype ipv4_addr . ipv4_addr . inet_proto . inet_service',
    '\t\tsize 65536',
    '\t\tflags dynamic,timeout',
    `\t\ttimeout ${REFUSED_TIMEOUT_SECONDS}s`,
    '\t\tcounter',
    '\t}',
    '\tcounter refused_packets {',
    '\t}',
    '\tchain forward {',
    '\t\ttype filter hook forward priority filter; policy drop;',
    '\t\tct state established,related accept',
    `\t\tiifname != ${tun} oifname != ${tun} accept`,
  );
  feed.organizations.forEach((org, i) => {
    if (org.members.length === 0) return;
    for (const rule of org.rules) {
      lines.push(`\t\tiifname ${tun} ip saddr @org_${i} ip daddr ${rule.cidr}${portMatch(rule)} accept`);
    }
  });
  lines.push(
    `\t\tiifname ${tun} meta l4proto { tcp, udp } update @${REFUSED_SET} { ip saddr . ip daddr . meta l4proto . th dport }`,
    `\t\tiifname ${tun} meta l4proto tcp counter name refused_packets reject with tcp reset`,
    '\t\tcounter name refused_packets drop',
    '\t}',
    '\tchain postrouting {',
    '\t\ttype nat hook postrouting priority srcnat; policy accept;',
    `\t\tiifname ${tun} oifname != ${tun} masquerade`,
    '\t}',
    '}',
  );
  return `${lines.join('\n')}\n`;
}
