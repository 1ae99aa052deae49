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
export type ExportedOutput = (typeof EXPORTED_OUTPUTS)[number];

export function exportName(config: Pick<GatewayConfig, 'name'>, output: ExportedOutput): string {
  return `${config.name}-${output}`;
}
