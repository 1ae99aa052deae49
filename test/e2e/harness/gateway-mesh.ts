import { type ChildProcess, execFile } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { type GatewayOptions, type RunningGateway, startGateway } from '../../../src/server';
import { waitUntil } from '../../support/wait';
import { type Namespace, type Underlay, nsSpawn } from './netns';

const GATEWAY_BIN = resolve(__dirname, '../../../bin/gateway.js');

export type Role = 'environment' | 'lighthouse' | 'proxy' | 'egress';

export interface AgentEvent {
  readonly time: string;
  readonly event: string;
  readonly [field: string]: unknown;
}

/** A host the gateway knows, with its enrollment token, not enrolled yet. */
export interface PendingHost {
  readonly name: string;
  readonly role: Role;
  readonly ns: Namespace;
  readonly hostId: string;
  readonly ip: string;
  readonly token: string;
}

/** One host of the mesh: a namespace, its agent directory, and the agent process once started. */
export class MeshNode {
  agent?: ChildProcess;
  private readonly lines: string[] = [];
  private exited?: Promise<number | null>;

  constructor(
    readonly name: string,
    readonly role: Role,
    readonly ns: Namespace,
    readonly dir: string,
    readonly hostId: string,
    /** Overlay address, without prefix length. */
    readonly ip: string,
  ) {}

  /** `gateway agent run` inside the namespace, JSON logs collected here and in `<dir>.agent.log`. */
  startAgent(extraArgs: string[] = []): void {
    const child = nsSpawn(this.ns, process.execPath, [GATEWAY_BIN, 'agent', 'run', '--dir', this.dir, '--log-format', 'json', '--wait', '20', '--backoff-max', '2', ...extraArgs], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.agent = child;
    let partial = '';
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      const parts = (partial + chunk).split('\n');
      partial = parts.pop() ?? '';
      for (const line of parts.filter(Boolean)) {
        this.lines.push(line);
        appendFileSync(`${this.dir}.agent.log`, `${line}\n`);
      }
    });
    // 'close', not 'exit': the agent's last lines (host_rejected, agent_stopped) may still be in
    // the pipe at 'exit'. Its nebula logs to a file, so nothing else holds the pipe open.
    this.exited = new Promise((done) => child.once('close', (code) => done(code)));
  }

  /** The agent's events so far (non-JSON lines, e.g. a crash trace, are kept as `{event: 'raw'}`). */
  events(name?: string): AgentEvent[] {
    const all = this.lines.map((line) => {
      try {
        return JSON.parse(line) as AgentEvent;
      } catch {
        return { time: '', event: 'raw', line } as AgentEvent;
      }
    });
    return name ? all.filter((e) => e.event === name) : all;
  }

  /** Waits (deadline, not a timed assertion) until the agent logged `name` at least `count` times. */
  async waitForEvent(name: string, count = 1, timeoutMs = 30_000): Promise<AgentEvent> {
    const deadline = Date.now() + timeoutMs;
    while (this.events(name).length < count) {
      if (Date.now() > deadline) throw new Error(`${this.name}: no ${name} event #${count} within ${timeoutMs} ms; log:\n${this.lines.slice(-15).join('\n')}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    return this.events(name)[count - 1];
  }

  /**
   * Waits until the tunnel handover that followed the agent's latest certificate reload has ended
   * (its outcome logged, or a nebula start made it moot; a key rotation's install, which changes
   * pki.key too, hands nothing over and is not waited for). The agent logs the reload before the
   * handover runs, so a test that tallies handovers right after stopping its pings could miss one
   * still under way and count the packet it lost as unexplained.
   */
  async handoversSettled(timeoutMs = 60_000): Promise<void> {
    const ends = new Set(['tunnels_handed_over', 'tunnel_handover_failed', 'nebula_started', 'nebula_restarted', 'agent_stopped']);
    const pending = () => {
      const all = this.events();
      const handsOver = (e: AgentEvent) => e.event === 'nebula_reloaded' && Array.isArray(e.changed) && e.changed.includes('pki.cert') && !e.changed.includes('pki.key');
      const reload = all.map(handsOver).lastIndexOf(true);
      return reload >= 0 && !all.slice(reload + 1).some((e) => ends.has(e.event)) ? all[reload] : undefined;
    };
    await waitUntil(`${this.name}: the handover after its latest certificate reload to end (that reload)`, pending, (reload) => reload === undefined, { timeoutMs, intervalMs: 100 });
  }

  /** Sends `signal` to the agent and resolves to its exit status. */
  async stopAgent(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    if (this.agent && this.agent.exitCode === null && this.agent.signalCode === null) this.agent.kill(signal);
    return this.waitForAgentExit();
  }

  waitForAgentExit(): Promise<number | null> {
    return this.exited ?? Promise.resolve(null);
  }

  /** nebula's JSON log lines (from `<dir>/nebula.log`). */
  nebulaLog(): Array<Record<string, unknown>> {
    const path = join(this.dir, 'nebula.log');
    if (!existsSync(path)) return [];
    return readFileSync(path, 'utf8')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
  }

  nebulaPid(): number | undefined {
    const path = join(this.dir, 'nebula.pid');
    return existsSync(path) ? Number(readFileSync(path, 'utf8')) : undefined;
  }
}

/**
 * A gateway (startGateway, in this process, listening on the bridge so every namespace reaches it)
 * and hosts enrolled by the real agent in their own namespaces.
 */
export class GatewayMesh {
  gateway?: RunningGateway;
  readonly nodes: MeshNode[] = [];
  readonly gatewayLog: string[] = [];

  constructor(
    readonly underlay: Underlay,
    readonly workDir: string,
    private readonly options: GatewayOptions & { port: number },
  ) {}

  get url(): string {
    return `http://${this.underlay.bridgeIp}:${this.options.port}`;
  }

  async startGateway(): Promise<void> {
    this.gateway = await startGateway({ ...this.options, host: this.underlay.bridgeIp, env: {}, log: (line) => this.gatewayLog.push(line) });
  }

  async stopGateway(): Promise<void> {
    await this.gateway?.stop();
    this.gateway = undefined;
  }

  /** An admin call; throws with the problem body on an error status. */
  async admin<T = Record<string, unknown>>(method: string, path: string, body?: unknown): Promise<T> {
    if (!this.gateway) throw new Error('gateway is not running');
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${this.gateway.adminToken}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path} → ${res.status} ${text}`);
    return (text ? JSON.parse(text) : {}) as T;
  }

  /** Creates the host (a lighthouse gets its underlay endpoint, its namespace's address) and its namespace. */
  async createHost(name: string, role: Role): Promise<PendingHost> {
    const ns = this.underlay.addNamespace(name);
    const created = await this.admin<{ host: { id: string; ip: string }; enrollment: { token: string } }>('POST', '/v1/hosts', {
      name,
      role,
      ...(role === 'lighthouse' ? { endpoints: [`${ns.ip}:4242`] } : {}),
    });
    return { name, role, ns, hostId: created.host.id, ip: created.host.ip, token: created.enrollment.token };
  }

  /** `gateway agent enroll` inside the host's namespace. */
  async enrollHost(pending: PendingHost): Promise<MeshNode> {
    const dir = join(this.workDir, pending.name);
    await new Promise<void>((done, fail) =>
      execFile(
        'ip',
        ['netns', 'exec', pending.ns.name, process.execPath, GATEWAY_BIN, 'agent', 'enroll', '--api', this.url, '--token', pending.token, '--dir', dir, '--log-format', 'json'],
        { timeout: 60_000 },
        (err, _stdout, stderr) => {
          appendFileSync(`${dir}.agent.log`, stderr);
          if (err) fail(new Error(`enroll ${pending.name} failed: ${stderr}`));
          else done();
        },
      ),
    );
    const node = new MeshNode(pending.name, pending.role, pending.ns, dir, pending.hostId, pending.ip);
    this.nodes.push(node);
    return node;
  }

  async enroll(name: string, role: Role): Promise<MeshNode> {
    return this.enrollHost(await this.createHost(name, role));
  }

  /** Stops every agent (SIGTERM; they stop their nebula) and the gateway. */
  async stop(): Promise<void> {
    await Promise.all(
      this.nodes.map(async (n) => {
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([n.stopAgent(), new Promise((r) => (timer = setTimeout(r, 8000)))]);
        clearTimeout(timer);
      }),
    );
    await this.stopGateway();
  }
}
