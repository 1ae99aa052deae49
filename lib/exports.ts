import type { GatewayConfig } from './config';

/**
 * Export names other CloudFormation stacks import (`Fn::ImportValue`). They are part of the
 * gateway's public interface: `<name>-<Output>`, never changed once released.
 */
export const EXPORTED_OUTPUTS = [
  'ApiUrl',
  'OverlayCidr',
  'CaFingerprint',
  'TableName',
  'ProxyDomain',
  'LighthouseNames',
  'ServerEndpoint',
] as const;
/**
 * Exported only with `gateway.egress.enabled`: the egress fleet's Elastic IPs (comma-separated,
 * pool order: what destinations allowlist) and its security group (what VPC targets admit).
 */
export const EGRESS_EXPORTED_OUTPUTS = ['EgressAddresses', 'EgressSecurityGroupId'] as const;
export type ExportedOutput = (typeof EXPORTED_OUTPUTS)[number] | (typeof EGRESS_EXPORTED_OUTPUTS)[number];

export function exportName(config: Pick<GatewayConfig, 'name'>, output: ExportedOutput): string {
  return `${config.name}-${output}`;
}
