import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { UpdateCommand } from '@aws-sdk/lib-dynamodb';
import { encodeX25519PublicKeyPem, generateX25519KeyPair } from '../../src/pki';
import { parseAgentUserAgent, shouldRecordSeen } from '../../src/api/last-seen';
import { renderHost } from '../../src/cli/commands/hosts';
import { GatewayStore } from '../../src/store';
import { getHostWithSighting, recordHostSeen } from '../../src/store/host-seen';
import { keys } from '../../src/store/keys';
import { TableAccess } from '../../src/store/table-access';
import { testDynamoClient, uniqueTableName } from '../support/dynamodb';
import { apiClient, startTestGateway, type TestGateway } from '../support/gateway';

const MINUTE = 60_000;
const AGENT = 'gateway-agent/0.1.0 nebula/1.6.1';

describe('parseAgentUserAgent: only an agent naming well-formed versions is believed', () => {
  test.each([
    ['gateway-agent/0.1.0 nebula/1.6.1', { agentVersion: '0.1.0', nebulaVersion: '1.6.1' }],
    ['gateway-agent/0.1.0', { agentVersion: '0.1.0' }],
    ['gateway-agent/1.2.3-rc.1+abc nebula/1.6.1 (linux)', { agentVersion: '1.2.3-rc.1+abc', nebulaVersion: '1.6.1' }],
    ['gateway-agent/0.1.0 nebula/', { agentVersion: '0.1.0' }],
    ['curl/8.0', undefined],
    ['gateway-agent/', undefined],
    ['gateway-agent/../../etc nebula/1.6.1', undefined],
    ['gateway-agent/<script> nebula/1.6.1', undefined],
    [`gateway-agent/${'1'.repeat(33)}`, undefined],
    [`gateway-agent/0.1.0 nebula/1.6.1 ${'x'.repeat(300)}`, undefined],
    [undefined, undefined],
  ])('%s', (header, expected) => {
    expect(parseAgentUserAgent(header as string | undefined)).toEqual(expected);
  });
});

describe('shouldRecordSeen: at most once per 10 minutes unless a version changed', () => {
  const now = new Date('2026-12-02T12:00:00.000Z');
  const at = (minutesAgo: number) => new Date(now.getTime() - minutesAgo * MINUTE).toISOString();
  const versions = { agentVersion: '0.1.0', nebulaVersion: '1.6.1' };
  test.each([
    ['never seen', {}, versions, true],
    ['never seen, no versions', {}, undefined, true],
    ['seen 9 minutes ago, same versions', { lastSeenAt: at(9), ...versions }, versions, false],
    ['seen exactly 10 minutes ago', { lastSeenAt: at(10), ...versions }, versions, false],
    ['seen 11 minutes ago', { lastSeenAt: at(11), ...versions }, versions, true],
    ['seen a minute ago, new agent', { lastSeenAt: at(1), ...versions }, { ...versions, agentVersion: '0.2.0' }, true],
    ['seen a minute ago, new nebula', { lastSeenAt: at(1), ...versions }, { ...versions, nebulaVersion: '1.6.2' }, true],
    ['seen a minute ago, nebula not named', { lastSeenAt: at(1), ...versions }, { agentVersion: '0.1.0' }, false],
    ['seen a minute ago, no User-Agent', { lastSeenAt: at(1), ...versions }, undefined, false],
  ])('%s', (_, host, seen, expected) => {
    expect(shouldRecordSeen(host, seen, now)).toBe(expected);
  });
});

/**
 * A DynamoDB client that asks DynamoDB Local for ReturnConsumedCapacity: TOTAL on every request
 * and keeps what it reports, one entry per request.
 */
function meteredClient(): { client: DynamoDBClient; consumed: { op: string; units: number }[] } {
  const client = testDynamoClient();
  const consumed: { op: string; units: number }[] = [];
  client.middlewareStack.add(
    (next, context) => async (args) => {
      (args.input as Record<string, unknown>).ReturnConsumedCapacity = 'TOTAL';
      const result = await next(args);
      const reported = (result.output as { ConsumedCapacity?: { CapacityUnits?: number } }).ConsumedCapacity;
      consumed.push({ op: String(context.commandName), units: Number(reported?.CapacityUnits) });
      return result;
    },
    { step: 'initialize', name: 'consumedCapacity' },
  );
  return { client, consumed };
}

describe("a host's record shows when its agent was last seen and its versions (DynamoDB Local)", () => {
  let gw: TestGateway;
  let call: ReturnType<typeof apiClient>;
  const gatewayLog: string[] = [];
  const tableName = uniqueTableName('gw-seen');

  beforeAll(async () => {
    gw = await startTestGateway({ tableName, certificateLifetimeSeconds: 3600, log: (line) => gatewayLog.push(line) });
    call = apiClient(gw.url);
  });

  afterAll(async () => {
    jest.restoreAllMocks();
    await gw?.close();
  });

  async function enrolledHost(name: string): Promise<{ id: string; credential: string }> {
    const created = await call('POST', '/v1/hosts', { token: gw.adminToken, body: { name, role: 'environment' } });
    expect(created.status).toBe(201);
    const publicKey = encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey);
    const enrolled = await call('POST', '/v1/enroll', { body: { token: created.body.enrollment.token, publicKey } });
    expect(enrolled.status).toBe(200);
    return { id: created.body.host.id, credential: enrolled.body.credential };
  }
  const config = (host: { id: string; credential: string }, userAgent?: string) =>
    call('GET', `/v1/hosts/${host.id}/config`, { token: host.credential, headers: userAgent === undefined ? {} : { 'user-agent': userAgent } });
  /**
   * Makes a call that must succeed and returns the lastSeenAt it recorded, after checking that it
   * lies within the call (the gateway's clock is the test's movable one).
   */
  async function seenDuring(request: () => Promise<{ status: number; body: any }>): Promise<string> {
    const before = gw.clock().getTime();
    const res = await request();
    const after = gw.clock().getTime();
    expect(res.status).toBe(200);
    const hostId = (res.body as { hostId: string }).hostId;
    const lastSeenAt = String((await shown(hostId)).lastSeenAt);
    expect(Date.parse(lastSeenAt)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(lastSeenAt)).toBeLessThanOrEqual(after);
    return lastSeenAt;
  }
  const shown = async (id: string) => {
    const res = await call('GET', `/v1/hosts/${id}`, { token: gw.adminToken });
    expect(res.status).toBe(200);
    return res.body.host as Record<string, unknown>;
  };

  test('enrolled but never polled: no lastSeenAt, no versions', async () => {
    const host = await enrolledHost('never-polled');
    const view = await shown(host.id);
    expect(view).not.toHaveProperty('lastSeenAt');
    expect(view).not.toHaveProperty('agentVersion');
    expect(view).not.toHaveProperty('nebulaVersion');
  });

  test('config fetches record lastSeenAt and versions at most every 10 minutes, at once when a version changes', async () => {
    const host = await enrolledHost('poller');
    const first = await seenDuring(() => config(host, AGENT));
    expect(await shown(host.id)).toMatchObject({ lastSeenAt: first, agentVersion: '0.1.0', nebulaVersion: '1.6.1' });

    // `gateway hosts show` prints them.
    expect(renderHost((await shown(host.id)) as never)).toMatch(new RegExp(`^last seen: +${first}\nagent: +gateway-agent 0\.1\.0, nebula 1\.6\.1\n`, 'm'));

    gw.clock.advance(5 * MINUTE);
    expect((await config(host, AGENT)).status).toBe(200);
    expect((await shown(host.id)).lastSeenAt).toBe(first);

    gw.clock.advance(MINUTE);
    const upgraded = await seenDuring(() => config(host, 'gateway-agent/0.1.0 nebula/1.6.2'));
    expect(await shown(host.id)).toMatchObject({ lastSeenAt: upgraded, agentVersion: '0.1.0', nebulaVersion: '1.6.2' });

    gw.clock.advance(10 * MINUTE + 1000);
    const later = await seenDuring(() => config(host, 'gateway-agent/0.1.0 nebula/1.6.2'));
    expect((await shown(host.id)).lastSeenAt).toBe(later);
  });

  test('a renewal records it too', async () => {
    const host = await enrolledHost('renewer');
    const at = await seenDuring(() => call('POST', `/v1/hosts/${host.id}/renew`, { token: host.credential, body: {}, headers: { 'user-agent': AGENT } }));
    expect(await shown(host.id)).toMatchObject({ lastSeenAt: at, agentVersion: '0.1.0', nebulaVersion: '1.6.1' });
  });

  test('a malformed or foreign User-Agent stores no version; the call is served and the host still seen', async () => {
    const host = await enrolledHost('odd-agent');
    expect((await config(host, AGENT)).status).toBe(200);
    gw.clock.advance(11 * MINUTE);
    const at = await seenDuring(() => config(host, `gateway-agent/${'9'.repeat(40)} nebula/<b>`));
    expect(await shown(host.id)).toMatchObject({ lastSeenAt: at, agentVersion: '0.1.0', nebulaVersion: '1.6.1' });

    const stranger = await enrolledHost('curl-user');
    const strangerAt = await seenDuring(() => config(stranger, 'curl/8.5.0'));
    const view = await shown(stranger.id);
    expect(view.lastSeenAt).toBe(strangerAt);
    expect(view).not.toHaveProperty('agentVersion');
  });

  test('an unauthenticated call records nothing', async () => {
    const host = await enrolledHost('impostor-target');
    const res = await call('GET', `/v1/hosts/${host.id}/config`, { token: 'gwh_not-the-credential', headers: { 'user-agent': AGENT } });
    expect(res.status).toBe(401);
    expect(await shown(host.id)).not.toHaveProperty('lastSeenAt');
  });

  test('the store writes the sighting item only when it is stale or a version differs, and never once the host is revoked (conditional UpdateItem)', async () => {
    const host = await enrolledHost('conditional');
    const at = new Date('2030-01-01T00:00:00.000Z');
    const sighting = { hostId: host.id, at, agentVersion: '0.1.0', nebulaVersion: '1.6.1', minIntervalMs: 10 * MINUTE };
    expect(await gw.store.recordHostSeen(sighting)).toBe(true);
    expect(await gw.store.recordHostSeen({ ...sighting, at: new Date(at.getTime() + MINUTE) })).toBe(false);
    expect(await gw.store.recordHostSeen({ ...sighting, at: new Date(at.getTime() + MINUTE), nebulaVersion: '1.6.2' })).toBe(true);
    const last = new Date(at.getTime() + 12 * MINUTE);
    expect(await gw.store.recordHostSeen({ ...sighting, at: last, nebulaVersion: '1.6.2' })).toBe(true);
    expect(await gw.store.getHost(host.id)).toMatchObject({ lastSeenAt: last.toISOString(), agentVersion: '0.1.0', nebulaVersion: '1.6.2' });

    // The revocation marks the sighting item in its transaction: a call that authenticated just
    // before it cannot record a sighting after it. The last sighting stays visible.
    expect((await call('DELETE', `/v1/hosts/${host.id}`, { token: gw.adminToken })).status).toBe(200);
    expect(await gw.store.recordHostSeen({ ...sighting, at: new Date(at.getTime() + 60 * MINUTE), nebulaVersion: '1.7.0' })).toBe(false);
    expect(await shown(host.id)).toMatchObject({ status: 'revoked', lastSeenAt: last.toISOString(), nebulaVersion: '1.6.2' });
  });

  test('two API instances racing on one stale sighting: exactly one writes', async () => {
    const host = await enrolledHost('racer');
    const instances = [testDynamoClient(), testDynamoClient()];
    const at = new Date('2030-02-01T00:00:00.000Z');
    try {
      const written = await Promise.all(
        instances.map((client) => recordHostSeen(new TableAccess(client, tableName), { hostId: host.id, at, agentVersion: '0.1.0', minIntervalMs: 10 * MINUTE })),
      );
      expect(written.sort()).toEqual([false, true]);
    } finally {
      for (const client of instances) client.destroy();
    }
    expect((await shown(host.id)).lastSeenAt).toBe(at.toISOString());
  });

  test('a sighting costs 1 write unit, leaves the host item untouched, and is read with the host for the host read units alone (ConsumedCapacity)', async () => {
    const host = await enrolledHost('metered');
    const { client, consumed } = meteredClient();
    try {
      const table = new TableAccess(client, tableName);
      const hostBefore = await table.get(keys.host(host.id));
      expect(Object.keys(hostBefore ?? {})).toEqual(expect.arrayContaining(['gsi1pk', 'certificate']));
      consumed.length = 0;

      expect(await recordHostSeen(table, { hostId: host.id, at: gw.clock(), agentVersion: '0.1.0', nebulaVersion: '1.6.1', minIntervalMs: 10 * MINUTE })).toBe(true);
      expect(consumed).toEqual([{ op: 'UpdateItemCommand', units: 1 }]);
      // DynamoDB bills a refused one a unit too (not reported on an error): why the API reads the sighting first.
      expect(await recordHostSeen(table, { hostId: host.id, at: gw.clock(), agentVersion: '0.1.0', nebulaVersion: '1.6.1', minIntervalMs: 10 * MINUTE })).toBe(false);

      const seen = await table.get(keys.hostSeen(host.id));
      expect(seen).not.toHaveProperty('gsi1pk');
      expect(await table.get(keys.host(host.id))).toEqual(hostBefore);
      expect(hostBefore).not.toHaveProperty('lastSeenAt');

      // The same attributes on the host item, where they were before: the item crosses 1 KB and is copied to gsi1.
      consumed.length = 0;
      await table.doc.send(
        new UpdateCommand({ TableName: tableName, Key: keys.host(host.id), UpdateExpression: 'SET lastSeenAt = :at, agentVersion = :agent, nebulaVersion = :nebula', ExpressionAttributeValues: { ':at': seen?.lastSeenAt, ':agent': '0.1.0', ':nebula': '1.6.1' } }),
      );
      expect(consumed).toEqual([{ op: 'UpdateItemCommand', units: 4 }]);

      consumed.length = 0;
      await table.get(keys.host(host.id));
      const withSighting = await getHostWithSighting(table, host.id);
      expect(withSighting).toMatchObject({ id: host.id, lastSeenAt: seen?.lastSeenAt, agentVersion: '0.1.0', nebulaVersion: '1.6.1' });
      expect(consumed.map((c) => c.op)).toEqual(['GetItemCommand', 'QueryCommand']);
      expect(consumed[1].units).toBe(consumed[0].units);
    } finally {
      client.destroy();
    }
  });

  test('a failing write never breaks the config fetch: the config is served and the failure logged', async () => {
    const host = await enrolledHost('store-hiccup');
    // Fault injection: DynamoDB Local cannot be made to fail one UpdateItem, so this write throws instead.
    const failing = jest.spyOn(GatewayStore.prototype, 'recordHostSeen').mockRejectedValue(new Error('ProvisionedThroughputExceededException'));
    const res = await config(host, AGENT);
    const attempts = failing.mock.calls.length;
    failing.mockRestore();
    expect(res.status).toBe(200);
    expect(attempts).toBe(1);
    expect(gatewayLog.join('\n')).toMatch(/host last seen not recorded.*ProvisionedThroughputExceededException/);
    expect(await shown(host.id)).not.toHaveProperty('lastSeenAt');
  });
});
