import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, request as httpRequest, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { bundleAgent } from '../../lib/bundles';
import { freePort } from '../../src/server';
import { describeNeeding } from '../support/prerequisites';
import { GatewayMesh, type MeshNode, type PendingHost } from './harness/gateway-mesh';
import { type Namespace, Underlay } from './harness/netns';
import { ping, waitFor } from './harness/overlay';
import { MESH_PREREQUISITES } from './harness/prerequisites';

/**
 * The one-line bootstrap, for real: a gateway (startGateway) on the bridge serving the script and
 * an agent bundle built from this checkout, a lighthouse enrolled by the harness, and environments
 * in their own namespaces joining with `curl -fsSL $API/v1/bootstrap | sh -s -- --dir …` and the
 * token in GATEWAY_ENROLL_TOKEN, in `--token-file` or in `--token`, from an empty directory, with
 * PATH holding only the system directories and node's (nothing of this repository). Each run gets
 * a private mount namespace where /usr/local is a directory of this test (what the script installs
 * lands there, not on this machine) and /run is empty (no systemd: the agent runs in the foreground).
 */

const ENTRYPOINT = resolve(__dirname, '../../docs/examples/devcontainer/entrypoint.sh');

const SYSTEM_PATH = ['/usr/bin', '/bin', '/usr/sbin', '/sbin', dirname(process.execPath)].filter((d, i, all) => all.indexOf(d) === i).join(':');

/**
 * Inside the namespace: mount the machine's /usr/local, hide /run; with a unit directory ($5),
 * mount it on /etc/systemd/system and make /run/systemd/system (where systemd runs, for the
 * script); then run the command from an empty directory with only PATH set.
 */
const MACHINE_SHELL = `set -e
mount --bind "$1" /usr/local
mount -t tmpfs tmpfs /run
if [ -n "$5" ]; then
  mkdir -p /run/systemd/system
  mount --bind "$5" /etc/systemd/system
fi
cd "$2"
exec env -i PATH="$3" HOME="$2" sh -c "$4"`;

interface Run {
  readonly child: ChildProcess;
  readonly output: () => string;
  readonly exited: Promise<number | null>;
  /** Its exit status once its output is all read (see finished). */
  readonly closed: Promise<number | null>;
}

describeNeeding([...MESH_PREREQUISITES, 'curl', 'unshare', 'shellcheck'])('one-line bootstrap into a real mesh', () => {
  let underlay: Underlay;
  let work: string;
  let mesh: GatewayMesh;
  let lighthouse: MeshNode;
  let bundleSha: string;
  let mitm: Server;
  let mitmUrl: string;
  const runs: Run[] = [];

  beforeAll(async () => {
    underlay = Underlay.create();
    work = mkdtempSync(join(tmpdir(), 'e2e-bootstrap-'));
    const bundlePath = join(work, 'bundle', 'gateway-agent.js');
    bundleAgent(bundlePath);
    bundleSha = createHash('sha256').update(readFileSync(bundlePath)).digest('hex');
    mesh = new GatewayMesh(underlay, work, {
      port: await freePort(),
      dataDir: join(work, 'gateway'),
      dynamodbEndpoint: process.env.AWS_ENDPOINT_URL_DYNAMODB,
      tableName: `e2e-bootstrap-${process.pid}`,
      overlayCidr: '10.93.0.0/16',
      settings: { agentBundlePath: bundlePath },
    });
    await mesh.startGateway();
    lighthouse = await mesh.enroll('lh', 'lighthouse');
    lighthouse.startAgent();
    await lighthouse.waitForEvent('nebula_started', 1, 60_000);
    ({ server: mitm, url: mitmUrl } = await startTamperingProxy(underlay.bridgeIp, mesh.url));
  }, 120_000);

  afterAll(async () => {
    for (const run of runs) stopRun(run);
    await Promise.all(runs.map((r) => atMost(r.exited, 8000)));
    await new Promise((done) => mitm?.close(done));
    await mesh?.stop().catch(() => undefined);
    underlay?.destroy();
    if (process.env.KEEP_E2E_DIR) console.log(`e2e work dir kept: ${work}`);
    else rmSync(work, { recursive: true, force: true });
  }, 60_000);

  /** A machine: its own /usr/local (empty at first) and an empty working directory. */
  function machine(label: string): { usrLocal: string; cwd: string; dir: string } {
    const root = join(work, label);
    const usrLocal = join(root, 'usr-local');
    const cwd = join(root, 'cwd');
    mkdirSync(usrLocal, { recursive: true });
    mkdirSync(cwd, { recursive: true });
    return { usrLocal, cwd, dir: join(root, 'agent') };
  }

  function start(ns: Namespace, box: { usrLocal: string; cwd: string }, command: string, path = SYSTEM_PATH, unitDir = ''): Run {
    const child = spawn('ip', ['netns', 'exec', ns.name, 'unshare', '--mount', '--propagation', 'private', 'sh', '-c', MACHINE_SHELL, 'sh', box.usrLocal, box.cwd, path, command, unitDir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
    });
    let output = '';
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    const run: Run = {
      child,
      output: () => output,
      exited: new Promise((done) => child.once('exit', (code) => done(code))),
      closed: new Promise((done) => child.once('close', (code) => done(code))),
    };
    runs.push(run);
    return run;
  }

  async function finished(run: Run): Promise<{ status: number | null; output: string }> {
    // 'close', not 'exit': the script's last words may still be in the pipes at 'exit'. A run that
    // finishes leaves nothing behind holding them (it failed, found the agent running, or left it to systemd).
    const status = await run.closed;
    return { status, output: run.output() };
  }

  const oneLiner = (api: string, token: string, dir: string) => `curl -fsSL ${api}/v1/bootstrap | sh -s -- --token ${token} --dir ${dir}`;
  const withEnvToken = (api: string, token: string, dir: string) => `curl -fsSL ${api}/v1/bootstrap | GATEWAY_ENROLL_TOKEN=${token} sh -s -- --dir ${dir}`;
  /** The token in a file only its owner may read, as docs/bootstrap.md says to make it. */
  function withTokenFile(api: string, token: string, dir: string, file: string): string {
    writeFileSync(file, `${token}\n`, { mode: 0o600 });
    return `curl -fsSL ${api}/v1/bootstrap | sh -s -- --token-file ${file} --dir ${dir}`;
  }

  /** What the script installed and the agent's identity, with each file's content hash and mtime. */
  function snapshot(box: { usrLocal: string; dir: string }): Record<string, string> {
    const files = [join(box.usrLocal, 'lib/gateway-agent/agent.js'), join(box.usrLocal, 'bin/gateway-agent'), join(box.dir, 'agent.json'), join(box.dir, 'host.key')];
    return Object.fromEntries(files.map((f) => [f, `${createHash('sha256').update(readFileSync(f)).digest('hex')} ${statSync(f).mtimeMs}`]));
  }

  const installed = (usrLocal: string) => readdirSync(usrLocal, { recursive: true });

  /** A PATH of one directory holding every system command but nebula. */
  function pathWithoutNebula(): string {
    const noNebula = join(work, 'path-without-nebula');
    if (existsSync(noNebula)) return noNebula;
    mkdirSync(noNebula);
    for (const dir of SYSTEM_PATH.split(':')) {
      for (const name of existsSync(dir) ? readdirSync(dir) : []) {
        if (name !== 'nebula' && !existsSync(join(noNebula, name))) symlinkSync(join(dir, name), join(noNebula, name));
      }
    }
    return noNebula;
  }

  it('says which prerequisite is missing: nebula not on PATH, a Node.js older than 20', async () => {
    const host = await mesh.createHost('env-prereq', 'environment');
    const box = machine('prereq');

    const withoutNebula = await finished(start(host.ns, box, oneLiner(mesh.url, host.token, box.dir), pathWithoutNebula()));
    expect(withoutNebula.status).toBe(3);
    expect(withoutNebula.output).toContain('missing prerequisites:');
    expect(withoutNebula.output).toContain('nebula 1.6.x: not found on PATH');
    expect(withoutNebula.output).not.toContain('Node.js');

    // A node that says it is v18, first on PATH.
    const oldNode = join(work, 'old-node');
    mkdirSync(oldNode);
    writeFileSync(join(oldNode, 'node'), '#!/bin/sh\necho v18.19.1\n');
    chmodSync(join(oldNode, 'node'), 0o755);
    const withOldNode = await finished(start(host.ns, box, oneLiner(mesh.url, host.token, box.dir), `${oldNode}:${SYSTEM_PATH}`));
    expect(withOldNode.status).toBe(3);
    expect(withOldNode.output).toContain(`Node.js >= 20: ${oldNode}/node is v18.19.1`);
    expect(withOldNode.output).not.toContain('nebula 1.6.x');

    expect(installed(box.usrLocal)).toEqual([]);
    expect(existsSync(box.dir)).toBe(false);
  }, 60_000);

  let env: PendingHost;
  let box: ReturnType<typeof machine>;

  it('refuses a tampered agent bundle: exits non-zero naming the mismatch, installs nothing, leaves the token unused', async () => {
    env = await mesh.createHost('env1', 'environment');
    box = machine('env1');
    const tampered = await finished(start(env.ns, box, oneLiner(mitmUrl, env.token, box.dir)));
    expect(tampered.status).toBe(4);
    expect(tampered.output).toContain('agent bundle checksum mismatch');
    expect(tampered.output).toContain(`the script pins ${bundleSha}`);
    expect(tampered.output).toContain('refusing to install it');
    expect(installed(box.usrLocal)).toEqual([]);
    expect(existsSync(box.dir)).toBe(false);
    expect((await mesh.admin<{ host: { status: string } }>('GET', `/v1/hosts/${env.hostId}`)).host.status).toBe('pending');
  }, 60_000);

  let first: Run;

  it('joins the mesh with the one-line command, the token in GATEWAY_ENROLL_TOKEN: the environment pings the lighthouse over the overlay', async () => {
    first = start(env.ns, box, withEnvToken(mesh.url, env.token, box.dir));
    await waitFor('the bootstrapped environment to ping the lighthouse over the overlay', () => ping(env.ns, lighthouse.ip), 60_000);
    expect(first.child.exitCode).toBeNull();
    const identity = JSON.parse(readFileSync(join(box.dir, 'agent.json'), 'utf8'));
    expect([identity.hostId, identity.api]).toEqual([env.hostId, mesh.url]);
    expect(createHash('sha256').update(readFileSync(join(box.usrLocal, 'lib/gateway-agent/agent.js'))).digest('hex')).toBe(bundleSha);
    expect(readFileSync(join(box.usrLocal, 'bin/gateway-agent'), 'utf8')).toContain(`exec ${process.execPath} /usr/local/lib/gateway-agent/agent.js "$@"`);
    const check = spawnSync('shellcheck', ['--format=gcc', join(box.usrLocal, 'bin/gateway-agent')], { encoding: 'utf8' });
    expect([check.status, check.stdout]).toEqual([0, '']);
    expect(first.output()).toContain('running the agent in the foreground (no systemd)');
    // The script's process is the agent now (exec): the token is in neither its arguments nor its environment.
    const agentPid = readFileSync(join(box.dir, 'agent.pid'), 'utf8').trim();
    expect(readFileSync(`/proc/${agentPid}/cmdline`, 'utf8')).toContain('/usr/local/lib/gateway-agent/agent.js\0run\0');
    expect(readFileSync(`/proc/${agentPid}/environ`, 'utf8')).not.toContain(env.token);
    expect(readFileSync(`/proc/${agentPid}/cmdline`, 'utf8')).not.toContain(env.token);
    expect(first.output()).not.toContain(env.token);
  }, 90_000);

  it('running the command again changes nothing: same host, same key, same files, the running agent kept', async () => {
    const before = snapshot(box);
    const again = await finished(start(env.ns, box, oneLiner(mesh.url, env.token, box.dir)));
    expect(again.status).toBe(0);
    expect(again.output).toContain(`gateway-bootstrap: ${box.dir} already holds an enrolled host: not enrolling again`);
    expect(again.output).toContain('already runs (pid');
    expect(again.output).not.toContain('downloading');
    expect(again.output).not.toContain('installed /usr/local');
    expect(snapshot(box)).toEqual(before);
    expect(first.child.exitCode).toBeNull();
    const hosts = await mesh.admin<{ hosts: { name: string }[] }>('GET', '/v1/hosts?role=environment');
    expect(hosts.hosts.filter((h) => h.name === 'env1')).toHaveLength(1);
    expect(ping(env.ns, lighthouse.ip)).toBe(true);
  }, 60_000);

  it('after the agent stopped, the command (token already used) starts it again as the same host', async () => {
    const before = snapshot(box);
    // The script exec'd the agent in its own process: the pid it wrote is the agent's.
    process.kill(Number(readFileSync(join(box.dir, 'agent.pid'), 'utf8')), 'SIGTERM');
    expect(await first.exited).toBe(0);
    expect(ping(env.ns, lighthouse.ip)).toBe(false);
    const restarted = start(env.ns, box, oneLiner(mesh.url, env.token, box.dir));
    await waitFor('the restarted agent to ping the lighthouse', () => ping(env.ns, lighthouse.ip), 60_000);
    expect(restarted.output()).toContain('not enrolling again');
    expect(snapshot(box)).toEqual(before);
  }, 90_000);

  it('where systemd runs: installs and enables one unit, whose command joins the mesh; a second run changes nothing', async () => {
    const host = await mesh.createHost('env2', 'environment');
    const machine2 = machine('env2');
    const unitDir = join(work, 'env2', 'units');
    mkdirSync(unitDir);
    // systemctl stand-in: records its calls; the unit is never active.
    const fakeBin = join(work, 'env2', 'bin');
    const calls = join(work, 'env2', 'systemctl.log');
    mkdirSync(fakeBin);
    writeFileSync(join(fakeBin, 'systemctl'), `#!/bin/sh\necho "$*" >>${calls}\n[ "$1" != is-active ] || exit 3\n`);
    chmodSync(join(fakeBin, 'systemctl'), 0o755);
    const path = `${fakeBin}:${SYSTEM_PATH}`;
    const logged = () => readFileSync(calls, 'utf8').trim().split('\n');
    const unitPath = join(unitDir, 'gateway-agent.service');

    const once = await finished(start(host.ns, machine2, withTokenFile(mesh.url, host.token, machine2.dir, join(work, 'env2', 'token')), path, unitDir));
    expect(once.status).toBe(0);
    expect(once.output).toContain('the agent runs as gateway-agent.service');
    expect(logged()).toEqual(['daemon-reload', 'is-active --quiet gateway-agent.service', 'enable --now gateway-agent.service']);
    const execStart = /^ExecStart=(.+)$/m.exec(readFileSync(unitPath, 'utf8'))![1];
    expect(execStart).toBe(`/usr/local/bin/gateway-agent run --dir ${machine2.dir} --nebula /usr/bin/nebula --log-format json`);
    expect(JSON.parse(readFileSync(join(machine2.dir, 'agent.json'), 'utf8')).hostId).toBe(host.hostId);
    expect(once.output).not.toContain(host.token);

    const before = { ...snapshot(machine2), unit: `${readFileSync(unitPath, 'utf8')} ${statSync(unitPath).mtimeMs}` };
    const twice = await finished(start(host.ns, machine2, oneLiner(mesh.url, host.token, machine2.dir), path, unitDir));
    expect(twice.status).toBe(0);
    expect(twice.output).toContain('not enrolling again');
    // Nothing changed: no daemon-reload, no restart; enable --now of an enabled, running unit does nothing.
    expect(logged().slice(3)).toEqual(['enable --now gateway-agent.service']);
    expect({ ...snapshot(machine2), unit: `${readFileSync(unitPath, 'utf8')} ${statSync(unitPath).mtimeMs}` }).toEqual(before);
    expect(readdirSync(unitDir)).toEqual(['gateway-agent.service']);

    // What systemd would start: the unit's command, on the machine as the script left it.
    start(host.ns, machine2, execStart);
    await waitFor('the unit\'s command to ping the lighthouse', () => ping(host.ns, lighthouse.ip), 60_000);
  }, 120_000);

  it('the dev container entrypoint (docs/examples/devcontainer) joins, then runs the container\'s command beside the agent', async () => {
    const host = await mesh.createHost('env3', 'environment');
    const machine3 = machine('env3');
    const entrypoint = `GATEWAY_API=${mesh.url} GATEWAY_ENROLL_TOKEN=${host.token} GATEWAY_AGENT_DIR=${machine3.dir} sh ${ENTRYPOINT}`;
    const container = start(host.ns, machine3, `${entrypoint} sh -c 'echo "the command runs (token: \${GATEWAY_ENROLL_TOKEN:-none})"; exec sleep 600'`);
    await waitFor('the dev container to ping the lighthouse', () => ping(host.ns, lighthouse.ip), 60_000);
    await waitFor('the container command to start', () => container.output().includes('the command runs (token: none)'));
    expect(container.child.exitCode).toBeNull();
    expect(JSON.parse(readFileSync(join(machine3.dir, 'agent.json'), 'utf8')).hostId).toBe(host.hostId);

    // A container without nebula stops with the script's message and status, its command never run.
    const broken = machine('env4');
    const failed = await finished(start(host.ns, broken, `${entrypoint.replace(machine3.dir, broken.dir)} echo never`, pathWithoutNebula()));
    expect(failed.status).toBe(3);
    expect(failed.output).toContain('nebula 1.6.x: not found on PATH');
    expect(failed.output).toContain('gateway-entrypoint: the bootstrap script stopped (status 3) before the agent started');
    expect(failed.output).not.toContain('never');
  }, 120_000);
});

/** `promise`, or nothing after `ms`; the timer never outlives it. */
async function atMost(promise: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([promise, new Promise((done) => (timer = setTimeout(done, ms)))]);
  clearTimeout(timer);
}

/** SIGTERM to the run's process group (the agent stops the nebula it started). */
function stopRun(run: Run): void {
  if (run.child.exitCode !== null || run.child.signalCode !== null || run.child.pid === undefined) return;
  try {
    process.kill(-run.child.pid, 'SIGTERM');
  } catch {
    // already gone
  }
}

/**
 * A man in the middle on the bridge: passes every request to the gateway (Host kept, so the
 * script it relays pins this proxy's URL) and alters the agent bundle on its way back.
 */
async function startTamperingProxy(host: string, upstream: string): Promise<{ server: Server; url: string }> {
  const target = new URL(upstream);
  const server = createServer((req, res) => {
    const forward = httpRequest({ host: target.hostname, port: target.port, path: req.url, method: req.method, headers: { host: req.headers.host ?? '' } }, (answer) => {
      const chunks: Buffer[] = [];
      answer.on('data', (c: Buffer) => chunks.push(c));
      answer.on('end', () => {
        let body = Buffer.concat(chunks);
        if (req.url?.startsWith('/v1/agent/')) body = Buffer.concat([body, Buffer.from('\nrequire("child_process").execSync("id");\n')]);
        res.writeHead(answer.statusCode ?? 502, { 'content-type': answer.headers['content-type'] ?? 'application/octet-stream', 'content-length': body.length });
        res.end(body);
      });
    });
    forward.on('error', () => res.writeHead(502).end());
    forward.end();
  });
  const port = await freePort();
  await new Promise<void>((done) => server.listen(port, host, done));
  return { server, url: `http://${host}:${port}` };
}
