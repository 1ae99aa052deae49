import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodeX25519PublicKeyPem, generateX25519KeyPair, LocalSigner, NebulaCertificate } from '../../src/pki';
import { type RunningGateway, startGateway } from '../../src/server';
import { dropTable, dynamoDbEndpoint, testDynamoClient, uniqueTableName } from '../support/dynamodb';
import { apiClient, movableClock } from '../support/gateway';
import { waitUntil } from '../support/wait';

// Local mode's key files through a whole CA rotation and a restart (DynamoDB Local, loopback HTTP):
// the rotation makes ca-next.key; once it is over, the next start rolls the slots.

describe('local CA key files across a rotation', () => {
  let dataDir: string;
  const tableName = uniqueTableName('gw-roll');
  const clock = movableClock();
  let gw: RunningGateway | undefined;
  const start = () =>
    startGateway({ port: 0, dataDir, tableName, dynamodbEndpoint: dynamoDbEndpoint(), clock, env: {}, log: () => undefined, certificateLifetimeSeconds: 600, sweepIntervalMs: 100 });

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'gw-roll-'));
  });

  afterAll(async () => {
    await gw?.stop();
    const client = testDynamoClient();
    await dropTable(client, tableName);
    client.destroy();
    await rm(dataDir, { recursive: true, force: true });
  });

  test('the next key becomes ca.key on the restart after the rotation; the retired pair is kept; another rotation can start', async () => {
    gw = await start();
    const call = apiClient(gw.url);
    const oldCa = NebulaCertificate.fromPem(await readFile(join(dataDir, 'ca.crt'), 'utf8'));
    const started = await call('POST', '/v1/network/ca-rotation', { token: gw.adminToken, body: { distributeSeconds: 0 } });
    expect(started.status).toBe(201);
    const newCaFingerprint = started.body.caRotation.newCa.fingerprint as string;
    const nextKey = await readFile(join(dataDir, 'ca-next.key'), 'utf8');

    // No host: each phase ends at once, the signing phase when the old CA's last possible certificate expired.
    const signing = await waitUntil('signing', async () => (await call('GET', '/v1/network')).body, (n) => n.caRotation.phase === 'signing');
    clock.advance(Date.parse(signing.caRotation.oldCaRetiresAt) - clock().getTime() + 1000);
    await waitUntil('idle', async () => (await call('GET', '/v1/network')).body.caRotation.phase, (p) => p === 'idle');
    await gw.stop();

    gw = await start();
    const files = (await readdir(dataDir)).sort();
    const retired = `ca-retired-${oldCa.fingerprint().slice(0, 16)}`;
    expect(files).toEqual(expect.arrayContaining(['ca.crt', 'ca.key', `${retired}.crt`, `${retired}.key`]));
    expect(files).not.toContain('ca-next.key');
    expect(await readFile(join(dataDir, 'ca.key'), 'utf8')).toBe(nextKey);
    expect(((await stat(join(dataDir, 'ca.key'))).mode & 0o777).toString(8)).toBe('600');
    expect(NebulaCertificate.fromPem(await readFile(join(dataDir, 'ca.crt'), 'utf8')).fingerprint()).toBe(newCaFingerprint);
    expect(NebulaCertificate.fromPem(await readFile(join(dataDir, `${retired}.crt`), 'utf8')).fingerprint()).toBe(oldCa.fingerprint());

    const restarted = apiClient(gw.url);
    const host = await restarted('POST', '/v1/hosts', { token: gw.adminToken, body: { name: 'after-roll', role: 'environment' } });
    const enrolled = await restarted('POST', '/v1/enroll', { body: { token: host.body.enrollment.token, publicKey: encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey) } });
    expect(enrolled.status).toBe(200);
    expect(NebulaCertificate.fromPem(enrolled.body.certificate).details.issuer).toBe(newCaFingerprint);

    const again = await restarted('POST', '/v1/network/ca-rotation', { token: gw.adminToken, body: {} });
    expect(again.status).toBe(201);
    const fresh = LocalSigner.fromPem(await readFile(join(dataDir, 'ca-next.key'), 'utf8'));
    expect(Buffer.from(await fresh.publicKey())).not.toEqual(Buffer.from(await LocalSigner.fromPem(nextKey).publicKey()));
  });
});
