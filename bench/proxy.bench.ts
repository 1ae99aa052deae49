import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * `gateway proxy` against nginx and Caddy as the same TLS reverse proxy to the same upstream
 * (nginx returning a 12-byte body, its own process). Each proxy is pinned to CPU 1 (nginx: one
 * worker; Caddy: GOMAXPROCS=1); wrk and the upstream share CPU 0. wrk keeps 50 connections alive.
 * Rounds alternate between the proxies and the medians are reported, because the machine is
 * shared; CPU time per request (from /proc) is the figure least disturbed by neighbours.
 */

const DURATION_S = 6;
const ROUNDS = 3;
const CONNECTIONS = 50;
const PORTS = { upstream: 28080, nginx: 28443, caddy: 28444, gateway: 28445 };
const HOST = `${PORTS.upstream}--bench.bench.test`;

const dir = mkdtempSync(join(tmpdir(), 'proxy-bench-'));
const children: ChildProcess[] = [];

function need(binary: string): void {
  try {
    execFileSync('sh', ['-c', `command -v ${binary}`], { stdio: 'ignore' });
  } catch {
    throw new Error(`${binary} is not installed (Debian: apt-get install wrk nginx-light caddy)`);
  }
}

function start(name: string, command: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (c: Buffer) => (err += c.toString()));
  child.on('exit', (code) => {
    if (code && !stopping) process.stderr.write(`${name} exited with ${code}: ${err}\n`);
  });
  children.push(child);
  return child;
}

async function waitForPort(port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`nothing listens on ${port}`);
}

function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(fields[11]) + Number(fields[12]); // utime + stime (all threads)
}

function childPid(parent: number): number {
  for (let i = 0; i < 50; i++) {
    try {
      const out = execFileSync('pgrep', ['-P', String(parent)], { encoding: 'utf8' }).trim();
      if (out) return Number(out.split('\n')[0]);
    } catch {
      /* not yet */
    }
    execFileSync('sleep', ['0.1']);
  }
  throw new Error(`no worker under ${parent}`);
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  cpuUsPerReq: number;
}

function ms(text: string): number {
  const m = /^([\d.]+)(us|ms|s)$/.exec(text);
  if (!m) return NaN;
  return Number(m[1]) * { us: 0.001, ms: 1, s: 1000 }[m[2] as 'us' | 'ms' | 's'];
}

function wrk(port: number, seconds: number, cpuPid: number): Sample {
  const before = cpuTicks(cpuPid);
  const out = execFileSync(
    'taskset',
    ['-c', '0', 'wrk', '-t1', `-c${CONNECTIONS}`, `-d${seconds}s`, '--latency', '-H', `Host: ${HOST}`, `https://127.0.0.1:${port}/`],
    { encoding: 'utf8' },
  );
  const ticks = cpuTicks(cpuPid) - before;
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  if (/Non-2xx/.test(out) || /Socket errors/.test(out)) process.stderr.write(`wrk on ${port}: ${out}\n`);
  return {
    rps,
    p50: ms(/50%\s+(\S+)/.exec(out)?.[1] ?? ''),
    p99: ms(/99%\s+(\S+)/.exec(out)?.[1] ?? ''),
    cpuUsPerReq: (ticks * 10_000) / requests, // 100 ticks per second
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

let stopping = false;
function cleanup(): void {
  stopping = true;
  for (const c of children) c.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  for (const b of ['wrk', 'nginx', 'caddy', 'openssl', 'taskset']) need(b);
  const run = (args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  run(['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=*.bench.test', '-addext', 'subjectAltName=DNS:*.bench.test']);
  const { publicKey } = generateKeyPairSync('ed25519');
  writeFileSync(join(dir, 'token.pub'), publicKey.export({ type: 'spki', format: 'pem' }));
  writeFileSync(
    join(dir, 'routes.json'),
    JSON.stringify({
      version: '1',
      routes: [{ hostId: 'bench', ip: '127.0.0.1', owner: { subject: 'b', organization: 'o' }, ports: [{ port: PORTS.upstream, access: 'public', protocol: 'http' }] }],
    }),
  );
  for (const d of ['nginx-up', 'nginx-proxy', 'caddy']) mkdirSync(join(dir, d));
  const nginxConf = (name: string, server: string, extraHttp = '') =>
    `worker_processes 1; daemon off; master_process on; pid ${dir}/${name}/nginx.pid; error_log ${dir}/${name}/error.log;\n` +
    `events { worker_connections 4096; }\n` +
    `http { access_log off; client_body_temp_path ${dir}/${name}; proxy_temp_path ${dir}/${name}; fastcgi_temp_path ${dir}/${name}; uwsgi_temp_path ${dir}/${name}; scgi_temp_path ${dir}/${name};\n${extraHttp}\n${server} }\n`;
  writeFileSync(
    join(dir, 'nginx-up', 'nginx.conf'),
    nginxConf('nginx-up', `server { listen 127.0.0.1:${PORTS.upstream}; keepalive_requests 100000000; location / { return 200 "hello world\\n"; } }`),
  );
  writeFileSync(
    join(dir, 'nginx-proxy', 'nginx.conf'),
    nginxConf(
      'nginx-proxy',
      `server { listen 127.0.0.1:${PORTS.nginx} ssl; ssl_certificate ${dir}/cert.pem; ssl_certificate_key ${dir}/key.pem; keepalive_requests 100000000;\n` +
        ` location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; proxy_set_header Host $host;\n` +
        `  proxy_set_header X-Forwarded-For $remote_addr; proxy_set_header X-Forwarded-Proto https; proxy_set_header X-Forwarded-Host $host; } }`,
      `upstream up { server 127.0.0.1:${PORTS.upstream}; keepalive 128; }`,
    ),
  );
  writeFileSync(
    join(dir, 'caddy', 'Caddyfile'),
    `{\n\tadmin off\n\tauto_https off\n\tstorage file_system ${dir}/caddy/data\n\tlog {\n\t\toutput discard\n\t}\n}\n` +
      `https://:${PORTS.caddy} {\n\ttls ${dir}/cert.pem ${dir}/key.pem\n\treverse_proxy 127.0.0.1:${PORTS.upstream}\n}\n`,
  );

  start('upstream nginx', 'taskset', ['-c', '0', 'nginx', '-p', join(dir, 'nginx-up'), '-c', join(dir, 'nginx-up', 'nginx.conf')]);
  const nginxMaster = start('nginx', 'taskset', ['-c', '1', 'nginx', '-p', join(dir, 'nginx-proxy'), '-c', join(dir, 'nginx-proxy', 'nginx.conf')]);
  const caddy = start('caddy', 'taskset', ['-c', '1', 'caddy', 'run', '--config', join(dir, 'caddy', 'Caddyfile'), '--adapter', 'caddyfile'], {
    GOMAXPROCS: '1',
    HOME: join(dir, 'caddy'),
    XDG_DATA_HOME: join(dir, 'caddy'),
    XDG_CONFIG_HOME: join(dir, 'caddy'),
  });
  // The access log is on (to stdout, discarded here): the proxy as deployed. nginx and Caddy log nothing.
  const gateway = start('gateway proxy', 'taskset', [
    '-c', '1', process.execPath, join(__dirname, '..', 'bin', 'gateway.js'), 'proxy',
    '--domain', 'bench.test', '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'),
    '--routes', join(dir, 'routes.json'), '--token-public-key', join(dir, 'token.pub'), '--listen', `127.0.0.1:${PORTS.gateway}`,
  ]);
  for (const p of Object.values(PORTS)) await waitForPort(p);
  const targets = [
    { name: 'nginx', port: PORTS.nginx, pid: childPid(nginxMaster.pid!) },
    { name: 'caddy', port: PORTS.caddy, pid: caddy.pid! },
    { name: 'gateway proxy', port: PORTS.gateway, pid: gateway.pid! },
  ];
  for (const t of targets) wrk(t.port, 2, t.pid); // warm-up: JIT, TLS session set-up, upstream pools
  const samples = new Map<string, Sample[]>(targets.map((t) => [t.name, []]));
  for (let r = 0; r < ROUNDS; r++) for (const t of targets) samples.get(t.name)!.push(wrk(t.port, DURATION_S, t.pid));

  const summary = targets.map((t) => {
    const s = samples.get(t.name)!;
    return { name: t.name, rps: median(s.map((x) => x.rps)), p50: median(s.map((x) => x.p50)), p99: median(s.map((x) => x.p99)), cpu: median(s.map((x) => x.cpuUsPerReq)) };
  });
  const nginx = summary[0];
  const caddyRow = summary[1];
  const f = (n: number, d = 0) => n.toFixed(d);
  const lines = [
    `TLS reverse proxy, HTTP/1.1 keep-alive, ${CONNECTIONS} connections, 12-byte responses, ${ROUNDS}×${DURATION_S}s rounds (medians), proxy on 1 core`,
    '',
    '| proxy | req/s | p50 ms | p99 ms | CPU µs/req | req/s vs nginx | req/s vs caddy | p99 vs nginx | CPU/req vs nginx |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...summary.map(
      (s) =>
        `| ${s.name} | ${f(s.rps)} | ${f(s.p50, 2)} | ${f(s.p99, 2)} | ${f(s.cpu, 1)} | ${f(s.rps / nginx.rps, 2)} | ${f(s.rps / caddyRow.rps, 2)} | ${f(s.p99 / nginx.p99, 2)} | ${f(s.cpu / nginx.cpu, 2)} |`,
    ),
    '',
    `rounds (req/s): ${targets.map((t) => `${t.name} ${samples.get(t.name)!.map((x) => f(x.rps)).join('/')}`).join('; ')}`,
    `load average at the end: ${loadavg().map((l) => l.toFixed(1)).join(' ')} on ${cpus().length} CPUs (neighbours disturb req/s and p99 more than CPU µs/req)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main()
  .catch((err) => {
    process.stderr.write(`proxy bench: ${(err as Error).message}\n`);
    process.exitCode = 1;
  })
  .finally(cleanup);
