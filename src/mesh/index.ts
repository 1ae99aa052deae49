export { MeshError } from './errors';
export { formatIpv4, parseIpv4 } from './ipv4';
export { Ipv4Cidr, MAX_PREFIX_LENGTH, MIN_PREFIX_LENGTH } from './cidr';
export {
  ROLES,
  type Role,
  isRole,
  parseRole,
  parseGroupName,
  certificateGroups,
  MAX_GROUP_NAME_LENGTH,
  MAX_FREE_GROUPS,
} from './roles';
export {
  type NetworkPolicy,
  type FirewallRule,
  type FirewallRules,
  DEFAULT_NETWORK_POLICY,
  parseNetworkPolicy,
  firewallFor,
} from './firewall';
export { type Endpoint, parseEndpoint, formatEndpoint } from './endpoint';
export {
  type NebulaConfigInput,
  type LighthouseAddress,
  type LogFormat,
  renderNebulaConfig,
  DEFAULT_KEY_PATH,
  DEFAULT_LIGHTHOUSE_PORT,
  DEFAULT_TUN_DEVICE,
  DEFAULT_MTU,
  DEFAULT_LIGHTHOUSE_INTERVAL_SECONDS,
} from './config';
export { type Ipv4Range, MAX_EGRESS_ROUTES, parseEgressRoutes, parseIpv4Range, formatIpv4Range } from './egress-routes';
export {
  type EgressRule,
  type EgressProtocol,
  EGRESS_PROTOCOLS,
  MAX_EGRESS_RULES,
  parseEgressRule,
  parseEgressRules,
  parsePorts,
  parseRuleSpec,
  rulesOutsideRoutes,
  sortRules,
} from './egress-policy';
export { type EgressNode, type UnsafeRoute, chooseEgressNode, environmentUnsafeRoutes, certificateSubnets } from './egress-choice';
