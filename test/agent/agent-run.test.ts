import { spawn, spawnSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { EXIT_HOST_REJECTED, createLogger, enrollHost, runAgent } from '../../src/agent';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { StubApi } from './support/stub-api';


interface Event {
  event: string;
  [k: string]: unknown;
}

/** Captures the agent's JSON log lines. */
function recorder() {
  const lines: string[] = [];
  const events = () => lines.map((l) => JSON.parse(l) as Event);
  const logger = createLogger('json', { write: (l: string) => lines.push(l) });
  const waitForEvent = async (name: string, count = 1, timeoutMs = 20_000) => {
    const seen = () => events().map((e) => e.event);
    await waitUntil(`${name} event #${count} (the events so far)`, seen, (names) => names.filter((n) => n === name).length >= count, { timeoutMs });
    return events().filter((e) => e.event === name)[count - 1];
  };
  return { lines, events, logger, waitForEvent };
}

function alive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return !/\)\s+Z\s/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

/** Waits until nebula's JSON log in `dir` has `count` lines with message `msg`; on timeout, reports the log's last lines. */
async function nebulaLogged(dir: string, msg: string, count = 1): Promise<void> {
  const lines = () => readFileSync(join(dir, 'nebula.log'), 'utf8').split('\n').filter(Boolean);
  await waitUntil(`nebula to log "${msg}" ${count} times (its log's last lines)`, () => lines().slice(-8), () => lines().filter((l) => l.includes(`"msg":"${msg}"`)).length >= count, { timeoutMs: 30_000 });
}

const nebulaPid = (dir: string) => Number(readFileSync(join(dir, 'nebula.pid'), 'utf8'));

/** A UDP port free on this machine a moment ago: a fixed one could be another run's nebula's. */
async function freeUdpPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((done) => socket.bind(0, '0.0.0.0', done));
  const { port } = socket.address();
  await new Promise<void>((done) => socket.close(done));
  return port;
}

/**
 * The agent against a steerable stand-in API (test/agent/support/stub-api.ts) and real nebula
 * with the tun device disabled. Scenario steps share one enrolled directory, in order.
 */
describeNeeding(['nebula'])('gateway agent against a steerable API', () => {
  let stub: StubApi;
  let dir: string;
  const log = recorder();
  let stop: AbortController;
  let running: Promise<number>;

  beforeAll(async () => {
    stub = await StubApi.start();
    dir = join(mkdtempSync(join(tmpdir(), 'agent-run-')), 'host');
  });
  afterAll(async () => {
    stop?.abort();
    await running?.catch(() => undefined);
    const pidFile = join(dir, 'nebula.pid');
    try {
      process.kill(Number(readFileSync(pidFile, 'utf8')), 'SIGKILL');
    } catch {
      // none left
    }
    await stub.stop();
    if (process.env.KEEP_AGENT_DIR) console.log(dir);
    else rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  it('enrolls through failing requests with the same token and key, and writes a config nebula accepts', async () => {
    stub.enrollFailures = [503, 502];
    const result = await enrollHost({ api: stub.url, token: stub.token, dir, logger: log.logger, backoff: { baseMs: 10, capMs: 50 } });
    expect(result).toMatchObject({ hostId: stub.hostId, ip: '10.50.0.5/16' });
    expect(stub.enrollKeys).toHaveLength(1);
    expect(log.events().filter((e) => e.event === 'enroll_retry')).toHaveLength(2);
    expect(statSync(join(dir, 'host.key')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'agent.json')).mode & 0o777).toBe(0o600);
    const config = parse(readFileSync(join(dir, 'config.yml'), 'utf8'));
    expect(config.pki.key).toBe(join(dir, 'host.key'));
    expect(config.pki.cert).toBe(readFileSync(join(dir, 'host.crt'), 'utf8'));
    expect(spawnSync('nebula', ['-test', '-config', join(dir, 'config.yml')]).status).toBe(0);
    expect(log.lines.join('')).not.toMatch(/gw[eh]_|PRIVATE KEY/);
    expect(log.lines.join('')).not.toContain(readFileSync(join(dir, 'host.key'), 'utf8').split('\n')[1]);
  });

  it('refuses to enroll a directory twice, and names a rejected token', async () => {
    await expect(enrollHost({ api: stub.url, token: stub.token, dir, logger: log.logger })).rejects.toThrow(/already enrolled/);
    const other = join(dir, '..', 'other');
    await expect(enrollHost({ api: stub.url, token: 'gwe_wrong', dir: other, logger: log.logger })).rejects.toThrow(/401/);
  });

  it('starts nebula and reloads it with SIGHUP for a blocklist change', async () => {
    stop = new AbortController();
    // No ssh client at sshBinary: nebula's console is out of reach, so a renewal's tunnel handover fails and the restart fallback runs.
    running = runAgent({ dir, logger: log.logger, waitSeconds: 30, backoff: { baseMs: 50, capMs: 200 }, sshBinary: join(dir, 'no-such-ssh'), signal: stop.signal });
    const started = await log.waitForEvent('nebula_started');
    expect(alive(started.pid as number)).toBe(true);
    stub.blocklist = ['a'.repeat(64)];
    stub.changed();
    const reloaded = await log.waitForEvent('nebula_reloaded');
    expect(reloaded.changed).toEqual(['pki.blocklist']);
    expect(nebulaPid(dir)).toBe(started.pid);
    expect(parse(readFileSync(join(dir, 'config.yml'), 'utf8')).pki.blocklist).toEqual(['a'.repeat(64)]);
    await nebulaLogged(dir, 'Caught HUP, reloading config');
    await nebulaLogged(dir, 'Blocklisting cert');
  });

  it('restarts nebula for a change it cannot reload', async () => {
    const before = nebulaPid(dir);
    stub.listenPort = await freeUdpPort();
    stub.changed();
    const restarted = await log.waitForEvent('nebula_restarted');
    expect(restarted.changed).toEqual(['listen.port']);
    expect(restarted.pid).not.toBe(before);
    expect(alive(before)).toBe(false);
    expect(alive(restarted.pid as number)).toBe(true);
  });

  it('leaves nebula and the files alone while the API is unreachable, and catches up after', async () => {
    const pid = nebulaPid(dir);
    const configBefore = readFileSync(join(dir, 'config.yml'), 'utf8');
    const unreachable = log.events().filter((e) => e.event === 'api_unreachable').length;
    stub.setDown(true);
    await log.waitForEvent('api_unreachable', unreachable + 3);
    expect(nebulaPid(dir)).toBe(pid);
    expect(alive(pid)).toBe(true);
    expect(readFileSync(join(dir, 'config.yml'), 'utf8')).toBe(configBefore);
    stub.blocklist = ['b'.repeat(64)];
    stub.setDown(false);
    await log.waitForEvent('nebula_reloaded', 2);
    // The stub is both the API and the watch endpoint: whichever the agent retried first answered.
    expect(log.events().some((e) => e.event === 'api_reachable' || e.event === 'watch_reachable')).toBe(true);
    expect(parse(readFileSync(join(dir, 'config.yml'), 'utf8')).pki.blocklist).toEqual(['b'.repeat(64)]);
  });

  it('renews a short-lived certificate at two thirds of its life and reloads nebula', async () => {
    stub.lifetimeSeconds = 3;
    await stub.reissue();
    const renewalsBefore = stub.renewals;
    await log.waitForEvent('nebula_reloaded', 4);
    const reloads = log.events().filter((e) => e.event === 'nebula_reloaded');
    expect(reloads.at(-1)).toMatchObject({ source: 'renewal', changed: ['pki.cert'] });
    expect(stub.renewals).toBeGreaterThan(renewalsBefore);
    await nebulaLogged(dir, 'Client cert refreshed from disk', 2);
    // Tunnels made before the renewal still carry the replaced certificate; without the console to
    // hand them over (test/e2e/renewal-handover.netns.test.ts), nebula restarts before it expires.
    expect((await log.waitForEvent('tunnel_handover_failed')).reason).toMatch(/no-such-ssh/);
    const refresh = await log.waitForEvent('nebula_restarted', 2);
    expect(refresh.source).toBe('tunnel_refresh');
    stub.lifetimeSeconds = 3600;
    await log.waitForEvent('nebula_reloaded', 5);
  });

  it('stops the nebula it started on SIGTERM and exits 0', async () => {
    const pid = nebulaPid(dir);
    stop.abort();
    expect(await running).toBe(0);
    expect(alive(pid)).toBe(false);
    expect(log.events().at(-1)?.event).toBe('agent_stopped');
  });

  it('adopts a running nebula, leaves it running on exit, and stops it when the host is revoked', async () => {
    const nebula = spawn('nebula', ['-config', join(dir, 'config.yml')], { stdio: 'ignore' });
    await new Promise((r) => nebula.once('spawn', r));
    require('node:fs').writeFileSync(join(dir, 'nebula.pid'), `${nebula.pid}\n`);
    stop = new AbortController();
    running = runAgent({ dir, logger: log.logger, waitSeconds: 30, signal: stop.signal });
    expect((await log.waitForEvent('nebula_adopted')).pid).toBe(nebula.pid);
    stop.abort();
    expect(await running).toBe(0);
    expect(alive(nebula.pid)).toBe(true);

    stop = new AbortController();
    running = runAgent({ dir, logger: log.logger, waitSeconds: 30, signal: stop.signal });
    await log.waitForEvent('nebula_adopted', 2);
    stub.revoke();
    expect(await running).toBe(EXIT_HOST_REJECTED);
    expect(log.events().some((e) => e.event === 'host_rejected')).toBe(true);
    await new Promise((r) => nebula.exitCode === null && nebula.signalCode === null ? nebula.once('exit', r) : r(undefined));
    expect(alive(nebula.pid)).toBe(false);
  });
});
