import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Helpers of the benches that time `gateway proxy` as its own process (handshake, tiny-records). */

/** CPU time of every thread of `pid` so far, in nanoseconds (/proc/<pid>/task/*\/schedstat). */
export function cpuNs(pid: number): number {
  let total = 0;
  for (const task of readdirSync(`/proc/${pid}/task`)) {
    try {
      total += Number(readFileSync(`/proc/${pid}/task/${task}/schedstat`, 'utf8').split(' ')[0]);
    } catch {
      /* a thread that ended meanwhile */
    }
  }
  return total;
}

function has(binary: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * Starts `gateway proxy` for `*.bench.test` on 127.0.0.1 with the cert.pem, key.pem, routes.json
 * and token.pub in `dir`, pinned to CPU 1 when taskset is there (the clients run elsewhere);
 * resolves with its pid and port once it listens. `children` collects it for the caller to stop.
 */
export function startBenchProxy(dir: string, extraFlags: readonly string[], children: ChildProcess[]): Promise<{ pid: number; port: number }> {
  const args = [
    process.execPath, join(__dirname, '..', 'bin', 'gateway.js'), 'proxy',
    '--domain', 'bench.test', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'),
    '--routes', join(dir, 'routes.json'), '--token-public-key', join(dir, 'token.pub'),
    '--listen', '127.0.0.1:0', '--access-log', 'off', ...extraFlags,
  ];
  const child = has('taskset') ? spawn('taskset', ['-c', '1', ...args]) : spawn(args[0], args.slice(1));
  children.push(child);
  return new Promise((resolve, reject) => {
    let err = '';
    child.stderr!.on('data', (c: Buffer) => {
      err += c.toString();
      const m = /listening on [\d.]+:(\d+)/.exec(err);
      if (m) resolve({ pid: child.pid!, port: Number(m[1]) });
    });
    child.on('exit', (code) => reject(new Error(`gateway proxy exited with ${code}: ${err}`)));
  });
}

/** A self-signed P-256 certificate for `*.bench.test` as cert.pem and key.pem in `dir`. */
export function writeBenchCertificate(dir: string): void {
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=*.bench.test', '-addext', 'subjectAltName=DNS:*.bench.test'],
    { cwd: dir, stdio: 'pipe' },
  );
}
