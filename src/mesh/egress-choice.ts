import { createHash } from 'node:crypto';
import type { Role } from './roles';

/** An active egress node as environments route through it. */
export interface EgressNode {
  readonly hostId: string;
  /** Its overlay IP, the `via` of environments' unsafe_routes. */
  readonly ip: string;
}

/** One nebula `tun.unsafe_routes` entry. */
export interface UnsafeRoute {
  readonly route: string;
  readonly via: string;
}

/**
 * The egress node an environment routes through: rendezvous hashing of the host id over the
 * nodes (the node with the highest hash of `hostId` and its own id). Stable: the same nodes give
 * the same choice whatever their order; spreads environments evenly; and when a node joins or
 * leaves, only the environments that move to or from it change node (and restart nebula).
 * Undefined when there is no node.
 */
export function chooseEgressNode(hostId: string, nodes: readonly EgressNode[]): EgressNode | undefined {
  let best: { node: EgressNode; score: string } | undefined;
  for (const node of nodes) {
    const score = createHash('sha256').update(`${hostId}\n${node.hostId}`).digest('hex');
    // Ties cannot happen between distinct ids short of a SHA-256 collision; the id order keeps it total anyway.
    if (!best || score > best.score || (score === best.score && node.hostId < best.node.hostId)) best = { node, score };
  }
  return best?.node;
}

/**
 * The unsafe_routes of an environment: each egress route via its chosen egress node; none when
 * there are no routes or no active egress node. Egress nodes themselves never get any: they
 * deliver the traffic, they do not forward it into the mesh again.
 */
export function environmentUnsafeRoutes(hostId: string, routes: readonly string[], nodes: readonly EgressNode[]): UnsafeRoute[] {
  const node = chooseEgressNode(hostId, nodes);
  if (!node || routes.length === 0) return [];
  return routes.map((route) => ({ route, via: node.ip }));
}

/**
 * The `subnets` a host's certificate carries: an egress node's are the network's egress routes
 * (nebula drops unsafe-route traffic to a host whose certificate lacks the destination, and an
 * egress node drops traffic for addresses its own certificate lacks); every other host's, none.
 */
export function certificateSubnets(role: Role, egressRoutes: readonly string[]): string[] {
  return role === 'egress' ? [...egressRoutes] : [];
}
