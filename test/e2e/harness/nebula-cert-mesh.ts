import { execFileSync, type ChildProcess } from 'node:child_process';
import { closeSync, openSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type Namespace, nsSpawn } from './netns';

/**
 * A mesh made by hand with nebula-cert, without the gateway: proves the harness, and is the
 * baseline the benchmarks compare the agent against.
 */
export interface RawNode {
  readonly ns: Namespace;
  readonly overlayIp: string;
  readonly configPath: string;
  readonly logPath: string;
}

export function makeCa(dir: string): void {
  execFileSync('nebula-cert', ['ca', '-name', 'harness-ca', '-duration', '2h', '-out-crt', join(dir, 'ca.crt'), '-out-key', join(dir, 'ca.key')]);
}

/** Signs a certificate for one node and writes its nebula config (JSON logs, all traffic allowed). */
export function makeRawNode(dir: string, ns: Namespace, name: string, overlayIp: string, lighthouse?: { overlayIp: string; underlay: string }): RawNode {
  const crt = join(dir, `${name}.crt`);
  const key = join(dir, `${name}.key`);
  execFileSync('nebula-cert', ['sign', '-ca-crt', join(dir, 'ca.crt'), '-ca-key', join(dir, 'ca.key'), '-name', name, '-ip', `${overlayIp}/24`, '-out-crt', crt, '-out-key', key]);
  const allowAll = [{ port: 'any', proto: 'any', host: 'any' }];
  const config = {
    pki: { ca: join(dir, 'ca.crt'), cert: crt, key },
    static_host_map: lighthouse ? { [lighthouse.overlayIp]: [`${lighthouse.underlay}:4242`] } : {},
    lighthouse: lighthouse ? { am_lighthouse: false, interval: 60, hosts: [lighthouse.overlayIp] } : { am_lighthouse: true },
    listen: { host: '0.0.0.0', port: lighthouse ? 0 : 4242 },
    punchy: { punch: true, respond: true },
    tun: { dev: 'nebula1', mtu: 1300 },
    logging: { level: 'info', format: 'json' },
    firewall: { outbound: allowAll, inbound: allowAll },
  };
  const configPath = join(dir, `${name}.yml`);
  writeFileSync(configPath, stringify(config));
  return { ns, overlayIp, configPath, logPath: join(dir, `${name}.log`) };
}

/** Starts nebula for a node inside its namespace, logging to the node's log file. */
export function startRawNebula(node: RawNode): ChildProcess {
  const out = openSync(node.logPath, 'a');
  try {
    return nsSpawn(node.ns, 'nebula', ['-config', node.configPath], { stdio: ['ignore', out, out] });
  } finally {
    closeSync(out);
  }
}
