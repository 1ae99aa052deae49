import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { createLogger, enrollHost, readCertificateFacts, runAgent } from '../../src/agent';
import { describeNeeding } from '../support/prerequisites';
import { waitUntil } from '../support/wait';
import { StubApi } from './support/stub-api';

interface Event {
  event: string;
  [k: string]: unknown;
}

/**
 * The agent's key rotation against the steerable stand-in API and real nebula (tun disabled):
 * a rotation asked for (SIGUSR2 in the CLI) renews for a new key made here, reloads nebula (no
 * restart), makes the new key host.key, then tells the API the new certificate is in use; when
 * the API cannot be told, the switch still holds and the agent says so.
 */
describeNeeding(['nebula'])('gateway agent: host key rotation', () => {
  let stub: StubApi;
  let dir: string;
  const lines: string[] = [];
  const events = () => lines.map((l) => JSON.parse(l) as Event);
  const waitForEvent = async (name: string, count = 1) => {
    await waitUntil(`${name} event #${count} (the events so far)`, () => events().map((e) => e.event), (names) => names.filter((n) => n === name).length >= count, { timeoutMs: 30_000 });
    return events().filter((e) => e.event === name)[count - 1];
  };
  const logger = createLogger('json', { write: (l: string) => lines.push(l) });
  const stop = new AbortController();
  let running: Promise<number>;
  let rotateNow: () => void = () => undefined;

  beforeAll(async () => {
    stub = await StubApi.start();
    dir = join(mkdtempSync(join(tmpdir(), 'agent-keyrot-')), 'host');
    await enrollHost({ api: stub.url, token: stub.token, dir, logger });
    running = runAgent({
      dir,
      logger,
      waitSeconds: 30,
      backoff: { baseMs: 10, capMs: 50 },
      onKeyRotationRequest: (listener) => {
        rotateNow = listener;
      },
      signal: stop.signal,
    });
    await waitForEvent('nebula_started');
  });

  afterAll(async () => {
    stop.abort();
    await running?.catch(() => undefined);
    await stub.stop();
    rmSync(join(dir, '..'), { recursive: true, force: true });
  });

  const keyPath = () => join(dir, 'host.key');
  const pid = () => Number(readFileSync(join(dir, 'nebula.pid'), 'utf8'));
  const config = () => parse(readFileSync(join(dir, 'config.yml'), 'utf8'), { version: '1.1' }) as { pki: { key: string; cert: string } };

  it('renews for a new key, reloads nebula on it, replaces host.key and reports the certificate in use', async () => {
    const oldKey = readFileSync(keyPath(), 'utf8');
    const nebula = pid();
    rotateNow();
    const rotated = await waitForEvent('key_rotated');
    expect(stub.renewKeys).toHaveLength(1);
    expect(stub.renewKeys[0]).not.toBe(stub.enrollKeys[0]);
    expect(stub.inUse).toEqual([stub.fingerprint]);
    expect(rotated.fingerprint).toBe(stub.fingerprint);
    expect(readFileSync(keyPath(), 'utf8')).not.toBe(oldKey);
    expect(statSync(keyPath()).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dir, 'host.key.next'))).toBe(false);
    expect(config().pki.key).toBe(keyPath());
    expect(readCertificateFacts(config().pki.cert).fingerprint).toBe(stub.fingerprint);
    expect(pid()).toBe(nebula);
    expect(events().filter((e) => e.event === 'nebula_restarted')).toEqual([]);
    expect(lines.join('')).not.toContain(readFileSync(keyPath(), 'utf8').split('\n')[1]);
  });

  it('keeps the new key when the API cannot be told it is in use, and says so', async () => {
    const switched = events().filter((e) => e.event === 'host_key_switched').length;
    const nebula = pid();
    stub.inUseDown = true;
    rotateNow();
    const unconfirmed = await waitForEvent('key_rotation_unconfirmed');
    expect(unconfirmed.attempt).toBe(8);
    expect(events().filter((e) => e.event === 'host_key_switched')).toHaveLength(switched + 1);
    expect(stub.renewKeys).toHaveLength(2);
    expect(stub.inUse).toHaveLength(1);
    expect(readCertificateFacts(config().pki.cert).fingerprint).toBe(stub.fingerprint);
    expect(config().pki.key).toBe(keyPath());
    expect(existsSync(join(dir, 'host.key.next'))).toBe(false);
    expect(pid()).toBe(nebula);
  });
});
