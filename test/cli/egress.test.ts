import { gatewayCli, localAdminGateway } from '../support/cli';

/** `gateway network set-egress-routes` and `gateway egress-policies get|set` against a local gateway (DynamoDB Local, loopback). */

const run = gatewayCli();
const { gw, local } = localAdminGateway('gw-egress-cli-');

test('routes, then a policy inside them, shown back; --if-revision guards a change', async () => {
  expect(await run('network', 'set-egress-routes', ...local(), '--route', '192.168.1.0/24', '--route', '10.0.0.0/16')).toEqual({
    status: 0,
    stdout: 'egress routes: 10.0.0.0/16, 192.168.1.0/24\n',
    stderr: '',
  });
  expect(await run('egress-policies', 'get', ...local(), '--organization', 'acme')).toMatchObject({ status: 0, stdout: expect.stringContaining('acme: never set (nothing allowed)') });

  const set = await run('egress-policies', 'set', ...local(), '--organization', 'acme', '--rule', 'tcp:10.0.0.0/16:5432', '--rule', 'udp:192.168.1.2/32:53', '--json');
  expect(set.status).toBe(0);
  expect(JSON.parse(set.stdout)).toMatchObject({ organization: 'acme', revision: 1, rules: [{ cidr: '10.0.0.0/16', proto: 'tcp', ports: '5432' }, { cidr: '192.168.1.2/32', proto: 'udp', ports: '53' }] });
  const shown = await run('egress-policies', 'get', ...local(), '--organization', 'acme');
  expect(shown.stdout).toMatch(/^acme: revision 1, updated \S+\n  tcp 10\.0\.0\.0\/16 +5432\n  udp 192\.168\.1\.2\/32 +53\n$/);

  const stale = await run('egress-policies', 'set', ...local(), '--organization', 'acme', '--none', '--if-revision', '0');
  expect(stale).toMatchObject({ status: 1, stderr: expect.stringContaining('if-match (--if-revision)') });
  expect(await run('egress-policies', 'set', ...local(), '--organization', 'acme', '--none', '--if-revision', '1')).toMatchObject({ status: 0, stdout: expect.stringContaining('no rules') });
});

test.each([
  [['egress-policies', 'set', '--organization', 'acme', '--rule', 'tcp:10.0.0.0/16:99999'], 2, '--rule #1'],
  [['egress-policies', 'set', '--organization', 'acme', '--rule', 'tcp:10.0.0.0/16', '--rule', 'icmp:10.0.0.0/16'], 2, '--rule #2'],
  [['egress-policies', 'set', '--organization', 'acme'], 2, '--rule is required'],
  [['egress-policies', 'set', '--organization', 'acme', '--none', '--rule', 'any:10.0.0.0/16'], 2, '--none excludes --rule'],
  [['egress-policies', 'set', '--organization', 'acme', '--none', '--if-revision', 'x'], 2, '--if-revision'],
  [['egress-policies', 'get', '--organization', '.acme'], 1, 'organization (--organization)'],
  [['egress-policies', 'get'], 2, '--organization is required'],
  [['network', 'set-egress-routes', '--route', '10.0.0.1/16'], 2, '--route #1'],
  [['network', 'set-egress-routes'], 2, '--route is required'],
  // Refused by the gateway: the field is shown with the flag it came from.
  [['egress-policies', 'set', '--organization', 'acme', '--rule', 'tcp:10.0.0.0/16', '--rule', 'tcp:172.16.0.0/12:443'], 1, 'rules[1].cidr (--rule #2)'],
  [['network', 'set-egress-routes', '--route', '10.0.0.0/16', '--route', '0.0.0.0/0'], 1, 'routes[1] (--route #2)'],
])('%j fails with status %d naming %s, and changes nothing', async (argv, status, flag) => {
  const before = await gw().store.getEgressPolicy('acme');
  const routes = (await gw().store.getNetwork())?.egressRoutes;
  const result = await run(...argv, ...local());
  expect(result).toMatchObject({ status, stdout: '', stderr: expect.stringContaining(flag) });
  expect(await gw().store.getEgressPolicy('acme')).toEqual(before);
  expect((await gw().store.getNetwork())?.egressRoutes).toEqual(routes);
});

test.each([
  [['serve', '--egress-route', '10.0.0.0/16', '--egress-route', '0.0.0.0/0'], "flag --egress-route[1]: '0.0.0.0/0' is wider than /8"],
  [['serve', '--egress-route', '10.42.7.0/24'], 'flag --egress-route[0]: \'10.42.7.0/24\' overlaps the overlay network 10.42.0.0/16'],
  [['serve', '--aws', '--egress-route', '10.0.0.0/16'], 'flag --egress-route is for local mode'],
])('%j refuses to start, naming the flag', async (argv, message) => {
  const result = await run(...argv);
  expect(result).toMatchObject({ status: 2, stdout: '', stderr: expect.stringContaining(message) });
});
