import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderNodeBootstrap } from '../../lib/constructs/node-bootstrap';
import { isGravitonType } from '../../lib/constructs/node-fleet';

const input = {
  role: 'lighthouse' as const,
  region: 'eu-west-1',
  apiUrl: 'https://abc123.execute-api.eu-west-1.amazonaws.com/api/',
  agentApiUrl: 'http://server.nebulagateway.internal:8080',
  nebulaVersion: '1.6.1',
  cpu: 'arm64' as const,
  agentS3Url: 's3://cdk-assets/abc.js',
  elasticIpAllocationIds: ['eipalloc-1', 'eipalloc-2'],
  signal: { stackName: 'NebulaGateway-Fleets', resource: 'LighthousesGroupASG' },
};

describe('node boot script', () => {
  it('is valid bash', () => {
    const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
    try {
      for (const role of ['lighthouse', 'proxy'] as const) {
        const file = join(dir, `${role}.sh`);
        writeFileSync(file, ['#!/bin/bash', ...renderNodeBootstrap({ ...input, role, elasticIpAllocationIds: role === 'proxy' ? undefined : input.elasticIpAllocationIds })].join('\n'));
        const check = spawnSync('bash', ['-n', file], { encoding: 'utf8' });
        expect([role, check.status, check.stderr]).toEqual([role, 0, '']);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('keeps the host key on the host: made locally, mode 0600, only the public key is sent', () => {
    const script = renderNodeBootstrap(input).join('\n');
    expect(script).toContain('(umask 077; nebula-cert keygen -out-key /var/lib/nebula-gateway/host.key');
    const sent = script.split('\n').filter((line) => line.includes('curl') && line.includes('--data'));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('--data "$BODY"');
    expect(script).toContain("--rawfile publicKey /var/lib/nebula-gateway/host.pub '{role: $role, publicKey: $publicKey}'");
    expect(script).not.toMatch(/--data[^\n]*host\.key/);
  });

  it('claims an Elastic IP before registering (lighthouses), and signals CloudFormation whatever happens', () => {
    const lines = renderNodeBootstrap(input);
    const associate = lines.findIndex((l) => l.includes('associate-address'));
    const register = lines.findIndex((l) => l.includes('v1/nodes/register'));
    expect(associate).toBeGreaterThan(0);
    expect(register).toBeGreaterThan(associate);
    expect(lines[1]).toMatch(/^trap '\/opt\/aws\/bin\/cfn-signal -e \$\? --region eu-west-1 --stack NebulaGateway-Fleets --resource LighthousesGroupASG/);
    expect(renderNodeBootstrap({ ...input, role: 'proxy', elasticIpAllocationIds: undefined }).join('\n')).not.toContain('associate-address');
  });

  it('proxies with a TLS secret: the boot script and the proxy prepare script are valid bash; the unit runs gateway proxy unprivileged', () => {
    const proxy = { domain: 'dev.example.com', tlsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gw/tls-AbCdEf' };
    const script = renderNodeBootstrap({ ...input, role: 'proxy', elasticIpAllocationIds: undefined, proxy }).join('\n');
    const prepare = /<<'PREPARE'\n([\s\S]*?)PREPARE/.exec(script)?.[1];
    const unit = /nebula-gateway-proxy\.service <<'UNIT'\n([\s\S]*?)UNIT/.exec(script)?.[1];
    expect(prepare).toBeDefined();
    expect(unit).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
    try {
      for (const [name, text] of [['boot.sh', `#!/bin/bash\n${script}`], ['prepare.sh', prepare!]] as const) {
        writeFileSync(join(dir, name), text);
        const check = spawnSync('bash', ['-n', join(dir, name)], { encoding: 'utf8' });
        expect([name, check.status, check.stderr]).toEqual([name, 0, '']);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(prepare).toContain(`--secret-id ${proxy.tlsSecretArn}`);
    expect(prepare).toContain('curl -fsS --retry 10 --retry-all-errors https://abc123.execute-api.eu-west-1.amazonaws.com/api/v1/network | jq -er .accessTokenPublicKey');
    expect(prepare).toContain('"http://server.nebulagateway.internal:8080/v1/routes?host=$host_id" "$credential"');
    // Files with the key and the credential are created under a restrictive umask, never echoed.
    expect(prepare!.indexOf('umask 027')).toBeLessThan(prepare!.indexOf('tls.key'));
    expect(prepare).not.toMatch(/set -x|echo .*\$(secret|credential)/);
    expect(unit).toMatch(/^User=gateway-proxy$/m);
    expect(unit).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    expect(unit).toMatch(/^ExecStartPre=\+\/opt\/nebula-gateway\/proxy-prepare\.sh$/m);
    expect(unit).toMatch(/^After=network-online\.target nebula-gateway-agent\.service$/m);
    expect(unit).toContain('proxy --domain dev.example.com --tls-cert /run/nebula-gateway-proxy/tls.crt --tls-key /run/nebula-gateway-proxy/tls.key --token-public-key /run/nebula-gateway-proxy/token.pub --routes ${GATEWAY_ROUTES_URL}');
    expect(renderNodeBootstrap({ ...input, role: 'proxy', elasticIpAllocationIds: undefined }).join('\n')).not.toContain('gateway proxy');
  });

  it('tells Graviton instance types apart', () => {
    expect(['t4g.micro', 'm7g.large', 'c7gn.xlarge', 'r8g.medium'].map(isGravitonType)).toEqual([true, true, true, true]);
    expect(['t3.micro', 'm7i.large', 'c6a.xlarge', 'g5.xlarge'].map(isGravitonType)).toEqual([false, false, false, false]);
  });
});
