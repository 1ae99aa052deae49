/**
 * The real `gateway agent enroll` and `gateway agent run` (bin/gateway.js, as an operator runs
 * them) against the real API: a local gateway (test/support/gateway.ts) on DynamoDB Local. The
 * rule: what the API says reaches nebula: a changed network config reloads it, and a revoked host
 * stops it and exits with status 3.
 *
 * nebula itself is a stand-in script: this path needs neither root nor a tun device, and the
 * stand-in records exactly how the agent drives it (arguments, SIGHUP, SIGTERM). Real nebula under
 * the agent is exercised by test/agent/agent-run.test.ts and the meshes in test/e2e.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parse } from 'yaml';
import { encodeX25519PublicKeyPem, generateX25519KeyPair, NebulaCertificate } from '../../src/pki';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';
import { waitUntil } from '../support/wait';

const GATEWAY = resolve(__dirname, '../../bin/gateway.js');

/** A nebula stand-in: appends "<pid> <what>" to calls.log for each run, -test, SIGHUP and SIGTERM. */
const FAKE_NEBULA = `#!/bin/sh
log="$(dirname "$0")/calls.log"
if [ "$1" = "-test" ]; then echo "$$ test $*" >> "$log"; exit 0; fi
if [ "$1" = "-version" ]; then echo "Version: 1.6.1"; exit 0; fi
echo "$$ run $*" >> "$log"
trap 'echo "$$ SIGHUP" >> "$log"' HUP
trap 'echo "$$ SIGTERM" >> "$log"; exit 0' TERM
while :; do sleep 1 & wait $!; done
`;

interface AgentEvent {
  event: string;
  [field: string]: unknown;
}

/** `gateway ...` as a child process; its JSON log lines (stderr) as events. */
function gatewayProcess(args: string[]): { child: ChildProcess; events: () => AgentEvent[]; output: () => string; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [GATEWAY, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // 'close', not 'exit': the last lines may still be in the pipes at 'exit'. The stand-in nebula
  // writes to the agent's log file, so nothing else holds them open.
  const exited = new Promise<number | null>((done) => child.once('close', (code) => done(code)));
  const events = () =>
    output
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as AgentEvent);
  return { child, events, output: () => output, exited };
}

describe('gateway agent against the real API', () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  let work: string;
  let agent: ReturnType<typeof gatewayProcess> | undefined;

  const admin = async (method: string, path: string, body?: unknown) => {
    const res = await call(method, path, { token: gw.adminToken, body });
    if (res.status >= 300) throw new Error(`${method} ${path}: ${res.status} ${res.text}`);
    return res.body;
  };
  const calls = () => readFileSync(join(work, 'calls.log'), 'utf8').trim().split('\n');
  const fingerprintOf = (pem: string) => NebulaCertificate.fromPem(pem).fingerprint();
  const blocklist = (dir: string): string[] => (parse(readFileSync(join(dir, 'config.yml'), 'utf8')) as { pki: { blocklist?: string[] } }).pki.blocklist ?? [];

  beforeAll(async () => {
    gw = await startTestGateway();
    call = apiClient(gw.url);
    work = mkdtempSync(join(tmpdir(), 'agent-real-api-'));
    writeFileSync(join(work, 'nebula'), FAKE_NEBULA);
    chmodSync(join(work, 'nebula'), 0o755);
  });

  afterAll(async () => {
    if (agent && agent.child.exitCode === null) {
      agent.child.kill('SIGKILL');
      await agent.exited;
    }
    await gw?.close();
    rmSync(work, { recursive: true, force: true });
  });

  it('enrolls, runs nebula, reloads it for a config change, and exits 3 stopping nebula once the host is revoked', async () => {
    const dir = join(work, 'host');
    const created = await admin('POST', '/v1/hosts', { name: 'dev1', role: 'environment' });
    const enroll = gatewayProcess(['agent', 'enroll', '--api', gw.url, '--token', created.enrollment.token, '--dir', dir, '--log-format', 'json']);
    expect([await enroll.exited, enroll.output()]).toEqual([0, expect.any(String)]);
    const hostId: string = created.host.id;

    // A peer with a certificate, to revoke later: its fingerprint must reach this host's nebula.
    const other = await admin('POST', '/v1/hosts', { name: 'dev2', role: 'environment' });
    const peer = await call('POST', '/v1/enroll', { body: { token: other.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(peer.status).toBe(200);

    agent = gatewayProcess(['agent', 'run', '--dir', dir, '--nebula', join(work, 'nebula'), '--log-format', 'json', '--wait', '5']);
    const started = await waitUntil('the agent to start nebula (its events so far)', () => agent!.events().map((e) => e.event), (names) => names.includes('nebula_started'), { timeoutMs: 30_000 });
    expect(started).toContain('agent_started');
    const nebulaPid = Number(readFileSync(join(dir, 'nebula.pid'), 'utf8'));
    expect(calls()).toContain(`${nebulaPid} run -config ${join(dir, 'config.yml')}`);

    // The API revokes the peer: the blocklist reaches this host's config, checked, then SIGHUP.
    await admin('DELETE', `/v1/hosts/${other.host.id}`);
    await waitUntil('nebula to get SIGHUP (the stand-in nebula calls so far)', calls, (lines) => lines.includes(`${nebulaPid} SIGHUP`), { timeoutMs: 30_000 });
    expect(blocklist(dir)).toEqual([fingerprintOf(peer.body.certificate)]);
    // The agent logs the reload just after it sends SIGHUP: the stand-in may record it first.
    const reload = await waitUntil('the agent to log the reload', () => agent!.events().find((e) => e.event === 'nebula_reloaded'), (e) => e !== undefined, { timeoutMs: 30_000 });
    expect(reload).toMatchObject({ source: 'config', action: 'reload' });
    // The new config was tested before it replaced the old one, and the reload came after.
    const lines = calls();
    const tested = lines.findIndex((l) => /^\d+ test -test -config .*\.config\.candidate\.\d+\.yml$/.test(l));
    expect(tested).toBeGreaterThanOrEqual(0);
    expect(tested).toBeLessThan(lines.indexOf(`${nebulaPid} SIGHUP`));

    // The API revokes this host: the agent stops nebula and exits 3.
    await admin('DELETE', `/v1/hosts/${hostId}`);
    const exit = await waitUntil(
      'the agent to exit (its exit status and events so far)',
      () => ({ status: agent!.child.exitCode, events: agent!.events().map((e) => e.event) }),
      (seen) => seen.status !== null,
      { timeoutMs: 30_000 },
    );
    expect(exit.status).toBe(3);
    await agent.exited; // its last lines read
    const events = agent.events();
    const rejected = events.find((e) => e.event === 'host_rejected');
    expect(rejected).toMatchObject({ status: 401 });
    expect(events.map((e) => e.event).slice(-3)).toEqual(['host_rejected', 'nebula_stopped', 'agent_stopped']);
    expect(calls().at(-1)).toBe(`${nebulaPid} SIGTERM`);
    expect(() => process.kill(nebulaPid, 0)).toThrow();
    // Secrets never reach the log.
    expect(agent.output()).not.toMatch(/gw[aeh]_|PRIVATE KEY/);
  }, 120_000);
});
