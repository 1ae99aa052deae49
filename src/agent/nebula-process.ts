import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { writeFileAtomic } from './atomic-file';
import { sleep } from './sleep';

export interface NebulaProcessOptions {
  /** The nebula binary. */
  readonly binary: string;
  readonly configPath: string;
  readonly pidPath: string;
  /** nebula's stdout and stderr are appended here (they outlive an agent restart). */
  readonly logPath: string;
}

/**
 * One nebula daemon for one config: started here, or adopted from the pid file a previous agent
 * left (so restarting the agent does not interrupt the mesh). Reloads with SIGHUP.
 */
export class NebulaProcess {
  private child?: ChildProcess;
  private pid?: number;
  /** True when this agent started the process (only then does `stop` end it on agent exit). */
  private startedHere = false;
  private exitWaiters: Array<() => void> = [];

  constructor(private readonly options: NebulaProcessOptions) {}

  get running(): boolean {
    return this.pid !== undefined && isAlive(this.pid);
  }

  get ownsProcess(): boolean {
    return this.startedHere;
  }

  get processId(): number | undefined {
    return this.pid;
  }

  /** Adopts the nebula in the pid file if it runs this config; returns whether it did. */
  adopt(): boolean {
    if (!existsSync(this.options.pidPath)) return false;
    const pid = Number(readFileSync(this.options.pidPath, 'utf8').trim());
    if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid) || !runsConfig(pid, this.options.configPath)) return false;
    this.pid = pid;
    this.startedHere = false;
    this.watchAdopted(pid);
    return true;
  }

  /** Starts nebula; resolves once it runs, rejects if it exits at once (bad config, no tun). */
  async start(): Promise<number> {
    const out = openSync(this.options.logPath, 'a', 0o644);
    let child: ChildProcess;
    try {
      child = spawn(this.options.binary, ['-config', this.options.configPath], { stdio: ['ignore', out, out] });
    } finally {
      closeSync(out);
    }
    const spawned = await new Promise<number>((resolve, reject) => {
      child.once('error', reject);
      child.once('spawn', () => resolve(child.pid as number));
    });
    this.child = child;
    this.pid = spawned;
    this.startedHere = true;
    child.once('exit', () => this.exited(spawned));
    writeFileAtomic(this.options.pidPath, `${spawned}\n`);
    await sleep(200);
    if (!this.running) throw new Error(`nebula exited right after start; see ${this.options.logPath}`);
    return spawned;
  }

  /** SIGHUP: nebula re-reads its config file. */
  reload(): void {
    if (this.pid === undefined) throw new Error('nebula is not running');
    process.kill(this.pid, 'SIGHUP');
  }

  /** Stops nebula (SIGTERM, then SIGKILL after `graceMs`) and removes the pid file. */
  async stop(graceMs = 5000): Promise<void> {
    const pid = this.pid;
    if (pid === undefined) return;
    if (isAlive(pid)) {
      const gone = this.waitForExit();
      process.kill(pid, 'SIGTERM');
      const timer = setTimeout(() => isAlive(pid) && process.kill(pid, 'SIGKILL'), graceMs);
      await gone;
      clearTimeout(timer);
    }
    this.forget(pid);
  }

  /** Resolves when the current process exits (at once when none runs). */
  waitForExit(): Promise<void> {
    if (!this.running) return Promise.resolve();
    return new Promise((resolve) => this.exitWaiters.push(resolve));
  }

  private exited(pid: number): void {
    if (this.pid !== pid) return;
    this.forget(pid);
  }

  private forget(pid: number): void {
    if (this.pid !== pid) return;
    this.pid = undefined;
    this.child = undefined;
    rmSync(this.options.pidPath, { force: true });
    const waiters = this.exitWaiters;
    this.exitWaiters = [];
    for (const w of waiters) w();
  }

  /** An adopted process is not our child: poll for its exit. */
  private watchAdopted(pid: number): void {
    const timer = setInterval(() => {
      if (this.pid !== pid) return clearInterval(timer);
      if (!isAlive(pid)) {
        clearInterval(timer);
        this.forget(pid);
      }
    }, 1000);
    timer.unref();
  }
}

/** Runs `nebula -test` on a config file; resolves to undefined when valid, else nebula's complaint. */
export function testNebulaConfig(binary: string, configPath: string): string | undefined {
  const result = spawnSync(binary, ['-test', '-config', configPath], { encoding: 'utf8', timeout: 15_000 });
  if (result.error) return result.error.message;
  if (result.status === 0) return undefined;
  const lines = `${result.stdout}\n${result.stderr}`.split('\n').filter((l) => /level=(error|fatal)|"level":"(error|fatal)"|^[A-Za-z]/.test(l));
  return (lines.pop() ?? `nebula -test exited with status ${result.status}`).slice(0, 500);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return !isZombie(pid);
  } catch {
    return false;
  }
}

function isZombie(pid: number): boolean {
  try {
    return /\)\s+Z\s/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function runsConfig(pid: number, configPath: string): boolean {
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    return argv.some((a) => a.endsWith('nebula')) && argv.includes(configPath);
  } catch {
    return false;
  }
}
