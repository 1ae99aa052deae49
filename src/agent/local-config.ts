import { parse, stringify } from 'yaml';

/** How this host's copy of the nebula config differs from the one the API renders. */
export interface LocalConfigOptions {
  /** Absolute path of the host's private key file (the API renders `/etc/nebula/host.key`). */
  readonly keyPath: string;
  /** Overrides `logging.format` (the agent's `--log-format json` makes nebula log JSON too). */
  readonly logFormat?: 'json' | 'text';
  /**
   * nebula's `sshd` section (the agent's loopback console: status-console.ts). The API never sets
   * it: whatever `sshd` the API's config holds is replaced by this, or removed without it.
   */
  readonly sshd?: Record<string, unknown>;
}

/** nebula parses with go-yaml v2, a YAML 1.1 parser: read and write with 1.1 rules (`on`, `yes` are booleans there). */
const YAML_OPTIONS = { version: '1.1' } as const;

export class ConfigFormatError extends Error {
  override readonly name = 'ConfigFormatError';
}

/**
 * Turns the API's config (YAML text or parsed) into the one nebula runs here: `pki.key` points at
 * the key file in the agent's directory, and `pki.ca`/`pki.cert` hold the CA bundle and the
 * certificate of the same response inline, so one atomic rename of config.yml switches all of
 * them at once. Returns the parsed document and its YAML.
 */
export function localizeConfig(apiConfig: unknown, ca: string, certificate: string, options: LocalConfigOptions): { document: Record<string, unknown>; yaml: string } {
  const parsed: unknown = typeof apiConfig === 'string' ? parse(apiConfig, YAML_OPTIONS) : structuredClone(apiConfig);
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new ConfigFormatError('the config from the API is not a YAML mapping');
  const document = parsed as Record<string, unknown>;
  const pki = isMapping(document.pki) ? document.pki : {};
  document.pki = { ...pki, ca, cert: certificate, key: options.keyPath };
  if (options.sshd) document.sshd = options.sshd;
  else delete document.sshd;
  if (options.logFormat) document.logging = { ...(isMapping(document.logging) ? document.logging : {}), format: options.logFormat };
  return { document, yaml: renderLocalConfig(document) };
}

/** A config document as the agent writes it (YAML 1.1, no line wrapping). */
export function renderLocalConfig(document: Record<string, unknown>): string {
  return stringify(document, { ...YAML_OPTIONS, lineWidth: 0 });
}

/** Parses a config.yml the agent wrote earlier. */
export function parseLocalConfig(yaml: string): Record<string, unknown> {
  const parsed: unknown = parse(yaml, YAML_OPTIONS);
  if (!isMapping(parsed)) throw new ConfigFormatError('config.yml is not a YAML mapping');
  return parsed;
}

function isMapping(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
