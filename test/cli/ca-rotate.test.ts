import { gatewayCli, localAdminGateway } from '../support/cli';

// `gateway ca rotate start|status` against a real local gateway (DynamoDB Local, loopback HTTP).

const run = gatewayCli();
const { gw, local } = localAdminGateway('gw-ca-cli-');

test('status before, a bad flag named, start, status during, and a second start refused by the gateway', async () => {
  const idle = await run('ca', 'rotate', 'status', ...local());
  expect(idle).toMatchObject({ status: 0, stderr: '' });
  expect(idle.stdout).toMatch(/^phase: +idle$/m);
  expect(idle.stdout).toMatch(/^CA expires: +\S+ \(\d+ days\)$/m);

  for (const bad of ['-1', '1.5', 'soon', String(31 * 86_400)]) {
    const refused = await run('ca', 'rotate', 'start', ...local(), '--distribute-seconds', bad);
    expect(refused.status).toBe(2);
    expect(refused.stderr).toContain('--distribute-seconds');
  }
  expect(JSON.parse((await run('ca', 'rotate', 'status', ...local(), '--json')).stdout).caRotation).toEqual({ phase: 'idle' });

  const started = await run('ca', 'rotate', 'start', ...local(), '--distribute-seconds', '600');
  expect(started).toMatchObject({ status: 0, stderr: '' });
  expect(started.stdout).toMatch(/^phase: +distributing$/m);
  expect(started.stdout).toMatch(/^new CA: +[0-9a-f]{64} \(until /m);

  const status = JSON.parse((await run('ca', 'rotate', 'status', ...local(), '--json')).stdout);
  expect(status.caRotation).toMatchObject({ phase: 'distributing', distributeSeconds: 600, oldCa: { fingerprint: expect.any(String) } });
  expect(status.caExpiry.warning).toBe('ok');

  const again = await run('ca', 'rotate', 'start', ...local());
  expect(again.status).toBe(1);
  expect(again.stderr).toMatch(/409 Conflict: a CA rotation is already under way \(phase distributing/);
});

test('start without credentials names the flags to use', async () => {
  const res = await run('ca', 'rotate', 'start', '--api', gw().url);
  expect(res.status).toBe(2);
  expect(res.stderr).toMatch(/--iam|--token-file/);
});
