import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { HostMaterial } from './api-client';
import { writeFileAtomic } from './atomic-file';
import { readCertificateFacts } from './certificate-facts';
import { publicKeyOf } from './keys';
import { type LocalConfigOptions, localizeConfig, parseLocalConfig } from './local-config';
import type { AppliedConfig } from './reload-decision';
import { ensureConsole, sshdSection } from './status-console';

/** The files of an agent's directory; `nebula -config <config>` runs as is. */
export interface AgentPaths {
  readonly dir: string;
  /** Host private key, 0600; made here, never sent anywhere. */
  readonly key: string;
  /**
   * A key rotation's new private key, 0600, from its making until nebula runs on it; then it
   * replaces `key` (whose old content is gone with the rename) and this file is removed.
   */
  readonly nextKey: string;
  /** The host's identity for the API: `{api, hostId, credential}`, 0600. Written last by enroll. */
  readonly identity: string;
  readonly config: string;
  /** Copies of the CA bundle and certificate for tools (`nebula-cert print`); nebula reads the inline ones. */
  readonly ca: string;
  readonly cert: string;
  readonly pid: string;
  readonly nebulaLog: string;
}

export function agentPaths(dir: string): AgentPaths {
  const abs = resolve(dir);
  return {
    dir: abs,
    key: join(abs, 'host.key'),
    nextKey: join(abs, 'host.key.next'),
    identity: join(abs, 'agent.json'),
    config: join(abs, 'config.yml'),
    ca: join(abs, 'ca.crt'),
    cert: join(abs, 'host.crt'),
    pid: join(abs, 'nebula.pid'),
    nebulaLog: join(abs, 'nebula.log'),
  };
}

/** What the agent needs to talk to the API as this host. */
export interface AgentIdentity {
  readonly api: string;
  readonly hostId: string;
  readonly credential: string;
  /** PEM of extra CAs trusted for an https API. */
  readonly apiCa?: string;
  /** Where the API last said to watch the config (the gateway server); absent: poll the API. */
  readonly watchUrl?: string;
}

export class AgentStateError extends Error {
  override readonly name = 'AgentStateError';
}

/** A config ready to be written: the YAML nebula will read and the facts the agent decides on. */
export interface PreparedConfig extends AppliedConfig {
  readonly material: HostMaterial;
  readonly yaml: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
}

export function ensureDirectory(paths: AgentPaths): void {
  mkdirSync(paths.dir, { recursive: true, mode: 0o700 });
}

export function readIdentity(paths: AgentPaths): AgentIdentity {
  if (!existsSync(paths.identity)) throw new AgentStateError(`${paths.dir} holds no enrolled host (no agent.json): run 'gateway agent enroll' first`);
  const json = JSON.parse(readFileSync(paths.identity, 'utf8')) as Partial<AgentIdentity>;
  if (typeof json.api !== 'string' || typeof json.hostId !== 'string' || typeof json.credential !== 'string') throw new AgentStateError(`${paths.identity} is incomplete`);
  if (json.watchUrl !== undefined && typeof json.watchUrl !== 'string') throw new AgentStateError(`${paths.identity}: watchUrl is not a string`);
  return json as AgentIdentity;
}

export function writeIdentity(paths: AgentPaths, identity: AgentIdentity): void {
  writeFileAtomic(paths.identity, `${JSON.stringify(identity, null, 2)}\n`, 0o600);
}

/** Builds this host's config from an API answer, without writing anything. */
export function prepareConfig(paths: AgentPaths, material: HostMaterial, options: Omit<LocalConfigOptions, 'keyPath'>): PreparedConfig {
  const facts = readCertificateFacts(material.certificate);
  const keyPath = keyPathFor(paths, facts.publicKey);
  const { document, yaml } = localizeConfig(material.config, material.ca, material.certificate, { ...options, keyPath, sshd: sshdSection(ensureConsole(paths.dir)) });
  return { material, config: document, yaml, certificateIp: facts.ip, notBefore: facts.notBefore, notAfter: facts.notAfter };
}

/**
 * The key file that goes with a certificate for `publicKey`: the rotation's next key while one is
 * waiting and the certificate is for it (a renewal's answer, or the same certificate arriving by
 * the watch first), else host.key.
 */
export function keyPathFor(paths: AgentPaths, publicKey: Buffer): string {
  if (!existsSync(paths.nextKey)) return paths.key;
  try {
    return publicKeyOf(readFileSync(paths.nextKey, 'utf8')).equals(publicKey) ? paths.nextKey : paths.key;
  } catch {
    return paths.key;
  }
}

/** Writes the CA and certificate copies, then config.yml last: its rename is the switch-over. */
export function writePreparedConfig(paths: AgentPaths, prepared: PreparedConfig): void {
  writeFileAtomic(paths.ca, prepared.material.ca);
  writeFileAtomic(paths.cert, prepared.material.certificate);
  writeFileAtomic(paths.config, prepared.yaml);
}

/** The config the agent last wrote, as it decides on it; undefined when there is none yet. */
export function readAppliedConfig(paths: AgentPaths): (AppliedConfig & { notBefore: Date; notAfter: Date }) | undefined {
  if (!existsSync(paths.config)) return undefined;
  const config = parseLocalConfig(readFileSync(paths.config, 'utf8'));
  const pki = config.pki as Record<string, unknown> | undefined;
  if (typeof pki?.cert !== 'string') throw new AgentStateError(`${paths.config} has no inline pki.cert`);
  const facts = readCertificateFacts(pki.cert);
  return { config, certificateIp: facts.ip, notBefore: facts.notBefore, notAfter: facts.notAfter };
}
