import { spawnSync } from 'node:child_process';
import { chmodSync, cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { AGENT_UNIT, DOWNLOAD_RETRY, PROXY_RUN_DIR, PROXY_UNIT, renderedFiles, renderNodeBootstrap } from '../../lib/constructs/node-bootstrap';
import { isGravitonType } from '../../lib/constructs/node-fleet';
import { describeNeeding } from '../support/prerequisites';

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
const proxyTls = { domain: 'dev.acme-corp.io', tlsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gw/tls-AbCdEf' };

/** The three boot scripts an instance can get: lighthouse, proxy with `gateway proxy`, proxy without. */
const variants = {
  lighthouse: renderNodeBootstrap(input),
  proxy: renderNodeBootstrap({ ...input, role: 'proxy', elasticIpAllocationIds: undefined, proxy: proxyTls }),
  'proxy-without-tls': renderNodeBootstrap({ ...input, role: 'proxy', elasticIpAllocationIds: undefined }),
};
/** What cloud-init runs: UserData.forLinux() puts the shebang first. */
const userData = (lines: readonly string[]) => ['#!/bin/bash', ...lines].join('\n') + '\n';
const file = (lines: readonly string[], path: string) => renderedFiles(lines).find((f) => f.path === path)!.text;

function withDir<T>(body: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bootstrap-'));
  try {
    return body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('node boot script', () => {
  it('is valid bash, and every script it writes too', () => {
    withDir((dir) => {
      for (const [name, lines] of Object.entries(variants)) {
        const scripts = [['boot', userData(lines)], ...renderedFiles(lines).filter((f) => f.path.endsWith('.sh')).map((f) => [f.path, f.text])];
        for (const [what, text] of scripts) {
          const path = join(dir, 'check.sh');
          writeFileSync(path, text);
          const check = spawnSync('bash', ['-n', path], { encoding: 'utf8' });
          expect([name, what, check.status, check.stderr]).toEqual([name, what, 0, '']);
        }
      }
    });
  });

  it('writes the agent unit on every node, and the proxy unit and its two scripts only with a TLS certificate', () => {
    expect(renderedFiles(variants.lighthouse).map((f) => f.path)).toEqual([`/etc/systemd/system/${AGENT_UNIT}`]);
    expect(renderedFiles(variants['proxy-without-tls']).map((f) => f.path)).toEqual([`/etc/systemd/system/${AGENT_UNIT}`]);
    expect(renderedFiles(variants.proxy).map((f) => f.path)).toEqual([
      `/etc/systemd/system/${AGENT_UNIT}`,
      '/opt/nebula-gateway/proxy-prepare.sh',
      '/opt/nebula-gateway/proxy-run.sh',
      `/etc/systemd/system/${PROXY_UNIT}`,
    ]);
  });

  it('keeps the host key on the host: made locally, mode 0600, only the public key is sent', () => {
    const script = variants.lighthouse.join('\n');
    expect(script).toContain('(umask 077; nebula-cert keygen -out-key /var/lib/nebula-gateway/host.key');
    const sent = script.split('\n').filter((line) => line.includes('curl') && line.includes('--data'));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toContain('--data "$BODY"');
    expect(script).toContain("--rawfile publicKey /var/lib/nebula-gateway/host.pub '{role: $role, publicKey: $publicKey}'");
    expect(script).not.toMatch(/--data[^\n]*host\.key/);
  });

  it('claims an Elastic IP before registering (lighthouses), and signals CloudFormation whatever happens', () => {
    const lines = variants.lighthouse;
    const associate = lines.findIndex((l) => l.includes('associate-address'));
    const register = lines.findIndex((l) => l.includes('v1/nodes/register'));
    expect(associate).toBeGreaterThan(0);
    expect(register).toBeGreaterThan(associate);
    expect(lines[1]).toMatch(/^trap '\/opt\/aws\/bin\/cfn-signal -e \$\? --region eu-west-1 --stack NebulaGateway-Fleets --resource LighthousesGroupASG/);
    expect(variants['proxy-without-tls'].join('\n')).not.toContain('associate-address');
  });

  it('asks IMDSv2 for a fresh token on every read, so the up-to-10-minute Elastic IP loop cannot outlive it', () => {
    const script = variants.lighthouse.join('\n');
    // No token kept in a variable across the script: `imds` fetches one, then reads with it.
    expect(script).not.toMatch(/^IMDS_TOKEN=/m);
    const imds = /^imds\(\) \{\n([\s\S]*?)\n\}$/m.exec(script)?.[1];
    expect(imds).toMatch(/token=\$\(curl [^\n]*-X PUT [^\n]*latest\/api\/token\)\n[^\n]*X-aws-ec2-metadata-token: \$token/);
    const loopEnd = script.indexOf('test -n "$associated"');
    const credentialsRead = script.indexOf('IAM_ROLE=$(imds iam/security-credentials/)');
    expect(credentialsRead).toBeGreaterThan(loopEnd);
  });

  it('retries the nebula downloads with curl\'s exponential backoff, on any error, and checks them', () => {
    const downloads = variants.lighthouse.filter((l) => l.includes('github.com/slackhq/nebula/releases'));
    expect(downloads).toHaveLength(2);
    for (const line of downloads) expect(line).toContain(`curl -fsSL ${DOWNLOAD_RETRY} `);
    // No --retry-delay: a fixed delay would turn off curl's doubling backoff.
    expect(DOWNLOAD_RETRY).toMatch(/--retry \d+ --retry-all-errors/);
    expect(DOWNLOAD_RETRY).not.toContain('--retry-delay');
    expect(variants.lighthouse.join('\n')).toContain('sha256sum -c -');
  });

  it('proxies: the prepare step (root) writes files, the run script (unprivileged) reads them; no secret is echoed', () => {
    const prepare = file(variants.proxy, '/opt/nebula-gateway/proxy-prepare.sh');
    const run = file(variants.proxy, '/opt/nebula-gateway/proxy-run.sh');
    const unit = file(variants.proxy, `/etc/systemd/system/${PROXY_UNIT}`);
    // The proxy reads its TLS pair from the secret itself (and again every 15 min): no key on disk.
    expect(prepare).not.toContain('secretsmanager');
    expect(prepare).not.toContain('tls.key');
    expect(prepare).toContain('curl -fsS --retry 10 --retry-all-errors https://abc123.execute-api.eu-west-1.amazonaws.com/api/v1/network | jq -er .accessTokenPublicKey');
    expect(prepare).toContain(`printf '%s\\n' "http://server.nebulagateway.internal:8080/v1/routes?host=$host_id" > ${PROXY_RUN_DIR}/routes-url`);
    expect(prepare).toContain(`jq -er .credential /var/lib/nebula-gateway/agent.json > ${PROXY_RUN_DIR}/routes-token`);
    // Files with the key and the credential are created under a restrictive umask, never echoed.
    expect(prepare.indexOf('umask 027')).toBeLessThan(prepare.indexOf('routes-token'));
    expect(prepare).not.toMatch(/set -x|echo .*\$(secret|credential)/);
    expect(run).toContain(`GATEWAY_ROUTES_TOKEN=$(<${PROXY_RUN_DIR}/routes-token)`);
    expect(run).toMatch(/^exec \/usr\/bin\/node-22 \/opt\/nebula-gateway\/gateway\.js proxy --domain dev\.acme-corp\.io --tls-secret arn:aws:secretsmanager:eu-west-1:111122223333:secret:gw\/tls-AbCdEf --token-public-key \/run\/nebula-gateway-proxy\/token\.pub --routes "\$routes_url" --listen 0\.0\.0\.0:443 --state-dir \/var\/lib\/nebula-gateway-proxy$/m);
    expect(unit).toMatch(/^StateDirectory=nebula-gateway-proxy$/m);
    expect(unit).toMatch(/^User=gateway-proxy$/m);
    expect(unit).toMatch(/^AmbientCapabilities=CAP_NET_BIND_SERVICE$/m);
    expect(unit).toMatch(/^ExecStartPre=\+\/opt\/nebula-gateway\/proxy-prepare\.sh$/m);
    expect(unit).toMatch(/^ExecStart=\/opt\/nebula-gateway\/proxy-run\.sh$/m);
    expect(unit).toMatch(/^After=network-online\.target nebula-gateway-agent\.service$/m);
    expect(variants['proxy-without-tls'].join('\n')).not.toContain('gateway proxy');
  });

  it('no unit loads an environment file at start: systemd reads one before ExecStartPre too, so a file written there would fail the first start', () => {
    for (const [name, lines] of Object.entries(variants)) {
      for (const unit of renderedFiles(lines).filter((f) => f.path.endsWith('.service'))) {
        // An optional (`-`) file would be allowed; a required one can only be one nothing in the unit writes.
        expect([name, unit.path, unit.text.match(/^EnvironmentFile=(?!-).*$/gm)]).toEqual([name, unit.path, null]);
      }
    }
  });

  it('tells Graviton instance types apart', () => {
    expect(['t4g.micro', 'm7g.large', 'c7gn.xlarge', 'r8g.medium'].map(isGravitonType)).toEqual([true, true, true, true]);
    expect(['t3.micro', 'm7i.large', 'c6a.xlarge', 'g5.xlarge'].map(isGravitonType)).toEqual([false, false, false, false]);
  });
});

describeNeeding(['shellcheck'])('node boot script: shellcheck', () => {
  it('finds nothing in any boot script or any script it writes', () => {
    withDir((dir) => {
      const paths: string[] = [];
      for (const [name, lines] of Object.entries(variants)) {
        paths.push(join(dir, `${name}-boot.sh`));
        writeFileSync(paths.at(-1)!, userData(lines));
        for (const f of renderedFiles(lines).filter((r) => r.path.endsWith('.sh'))) {
          paths.push(join(dir, `${name}-${f.path.split('/').pop()}`));
          writeFileSync(paths.at(-1)!, f.text);
        }
      }
      const check = spawnSync('shellcheck', ['--format=gcc', ...paths], { encoding: 'utf8' });
      expect([check.status, check.stdout]).toEqual([0, '']);
    });
  });

  it('is not blind: it flags an unquoted variable', () => {
    withDir((dir) => {
      writeFileSync(join(dir, 'bad.sh'), '#!/bin/bash\nrm $1\n');
      const check = spawnSync('shellcheck', ['--format=gcc', join(dir, 'bad.sh')], { encoding: 'utf8' });
      expect(check.status).not.toBe(0);
      expect(check.stdout).toContain('SC2086');
    });
  });
});

describeNeeding(['systemd-analyze'])('node boot script: systemd-analyze verify', () => {
  /**
   * A root file system as the instance has it when the units start: systemd's own units, the
   * rendered units and scripts at their paths, the executables they name (stubs), and, when
   * `runFiles`, what proxy-prepare.sh writes under PROXY_RUN_DIR.
   */
  function instanceRoot(dir: string, lines: readonly string[], runFiles: boolean): void {
    cpSync('/usr/lib/systemd/system', join(dir, 'usr/lib/systemd/system'), { recursive: true, verbatimSymlinks: true });
    for (const stub of ['/usr/bin/node-22', '/bin/kill', '/usr/local/bin/nebula']) {
      mkdirSync(dirname(join(dir, stub)), { recursive: true });
      writeFileSync(join(dir, stub), '#!/bin/sh\n');
      chmodSync(join(dir, stub), 0o755);
    }
    for (const f of renderedFiles(lines)) {
      mkdirSync(dirname(join(dir, f.path)), { recursive: true });
      writeFileSync(join(dir, f.path), f.text);
      chmodSync(join(dir, f.path), f.path.endsWith('.sh') ? 0o755 : 0o644);
    }
    if (runFiles) {
      mkdirSync(join(dir, PROXY_RUN_DIR), { recursive: true });
      for (const name of ['tls.crt', 'tls.key', 'token.pub', 'routes-url', 'routes-token']) writeFileSync(join(dir, PROXY_RUN_DIR, name), 'x\n');
    }
  }

  function verify(dir: string, unit: string): { status: number | null; output: string } {
    const result = spawnSync('systemd-analyze', ['verify', `--root=${dir}`, `/etc/systemd/system/${unit}`], { encoding: 'utf8' });
    return { status: result.status, output: `${result.stdout}${result.stderr}`.trim() };
  }

  it.each([
    ['lighthouse', [AGENT_UNIT]],
    ['proxy', [AGENT_UNIT, PROXY_UNIT]],
    ['proxy-without-tls', [AGENT_UNIT]],
  ] as const)('%s: every unit verifies, with the prepared files present and absent', (name, units) => {
    for (const runFiles of [false, true]) {
      withDir((dir) => {
        instanceRoot(dir, variants[name], runFiles);
        for (const unit of units) expect([unit, runFiles, verify(dir, unit)]).toEqual([unit, runFiles, { status: 0, output: '' }]);
      });
    }
  });

  it('is not blind: it refuses a unit whose ExecStart does not exist', () => {
    withDir((dir) => {
      instanceRoot(dir, variants.lighthouse, false);
      writeFileSync(join(dir, 'etc/systemd/system/broken.service'), '[Service]\nExecStart=/opt/nowhere/run\n');
      const result = verify(dir, 'broken.service');
      expect(result.status).not.toBe(0);
      expect(result.output).toMatch(/\/opt\/nowhere\/run/);
    });
  });
});

describe('proxy-run.sh, run for real (paths moved under a temporary root, node-22 a stub)', () => {
  /** The script as rendered, its absolute paths moved under `root`; nothing else is changed. */
  function runScript(root: string): { status: number | null; stdout: string; stderr: string } {
    const script = file(variants.proxy, '/opt/nebula-gateway/proxy-run.sh')
      .replaceAll(PROXY_RUN_DIR, join(root, PROXY_RUN_DIR))
      .replaceAll('/usr/bin/node-22', join(root, 'usr/bin/node-22'))
      .replaceAll('/opt/nebula-gateway', join(root, 'opt/nebula-gateway'));
    const path = join(root, 'proxy-run.sh');
    writeFileSync(path, script);
    mkdirSync(join(root, 'usr/bin'), { recursive: true });
    // The stub prints what `gateway proxy` would get: its arguments and the token from the environment.
    writeFileSync(join(root, 'usr/bin/node-22'), '#!/bin/bash\nprintf "%s\\n" "$@"\nprintf "token=%s\\n" "$GATEWAY_ROUTES_TOKEN"\n');
    chmodSync(join(root, 'usr/bin/node-22'), 0o755);
    return spawnSync('bash', [path], { encoding: 'utf8', env: { PATH: process.env.PATH } });
  }

  it('with the files proxy-prepare.sh writes: execs gateway proxy with the routes URL and the credential in its environment only', () => {
    withDir((root) => {
      mkdirSync(join(root, PROXY_RUN_DIR), { recursive: true });
      writeFileSync(join(root, PROXY_RUN_DIR, 'routes-url'), 'http://server.nebulagateway.internal:8080/v1/routes?host=h-123\n');
      writeFileSync(join(root, PROXY_RUN_DIR, 'routes-token'), 'gwh_secret\n');
      const run = runScript(root);
      expect([run.status, run.stderr]).toEqual([0, '']);
      const lines = run.stdout.trim().split('\n');
      expect(lines.slice(lines.indexOf('--routes'), lines.indexOf('--routes') + 2)).toEqual(['--routes', 'http://server.nebulagateway.internal:8080/v1/routes?host=h-123']);
      expect(lines.at(-1)).toBe('token=gwh_secret');
      // The credential is never an argument (arguments are visible to every user in ps).
      expect(lines.slice(0, -1).join(' ')).not.toContain('gwh_secret');
    });
  });

  it('without them: fails before starting node, naming the missing file (systemd then restarts the unit, prepare runs again)', () => {
    withDir((root) => {
      const run = runScript(root);
      expect(run.status).not.toBe(0);
      expect(run.stderr).toContain(`${PROXY_RUN_DIR}/routes-url`);
      expect(run.stdout).toBe('');
    });
  });
});
