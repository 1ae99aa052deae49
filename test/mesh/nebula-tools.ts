import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface HostFiles {
  cert: string;
  keyPath: string;
  fingerprint: string;
}

/** A CA made by the reference tool, in a temp dir, that signs host certificates on demand. */
export class NebulaCertFixture {
  private constructor(
    readonly dir: string,
    readonly ca: string,
  ) {}

  static async create(network = '10.42.0.0/16'): Promise<NebulaCertFixture> {
    const dir = await mkdtemp(join(tmpdir(), 'mesh-test-'));
    await run('nebula-cert', ['ca', '-name', 'mesh-test-ca', '-duration', '2h', '-ips', network, '-out-crt', join(dir, 'ca.crt'), '-out-key', join(dir, 'ca.key')]);
    return new NebulaCertFixture(dir, await readFile(join(dir, 'ca.crt'), 'utf8'));
  }

  async sign(name: string, ipPrefix: string, groups: string[]): Promise<HostFiles> {
    const crt = join(this.dir, `${name}.crt`);
    const keyPath = join(this.dir, `${name}.key`);
    await run('nebula-cert', [
      'sign', '-ca-crt', join(this.dir, 'ca.crt'), '-ca-key', join(this.dir, 'ca.key'),
      '-name', name, '-ip', ipPrefix, '-groups', groups.join(','), '-duration', '1h', '-out-crt', crt, '-out-key', keyPath,
    ]);
    const { stdout } = await run('nebula-cert', ['print', '-json', '-path', crt]);
    return { cert: await readFile(crt, 'utf8'), keyPath, fingerprint: JSON.parse(stdout).fingerprint };
  }

  async cleanup(): Promise<void> {
    await rm(this.dir, { recursive: true, force: true });
  }
}

/** Runs `nebula -test` on a config; returns its exit status and combined output. */
export async function nebulaTest(configPath: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await run('nebula', ['-test', '-config', configPath]);
    return { ok: true, output: stdout + stderr };
  } catch (error) {
    const e = error as { stdout?: string; stderr?: string; message: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` || e.message };
  }
}
