import { spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { buildSync } from 'esbuild';
import { FUNCTION_BUNDLING } from '../lib/constructs/gateway-function';
import { DEFAULT_NETWORK_POLICY } from '../src/mesh';
import { createCA, generateEd25519KeyPair, LocalSigner } from '../src/pki';
import { startDynamoDbLocal } from '../src/server/dynamodb-local';
import { ensureTable, GatewayStore } from '../src/store';
import { printTable } from './table';

/**
 * Lambda bundles and cold starts. Each function is bundled as GatewayFunction bundles it
 * (FUNCTION_BUNDLING: minified CJS, AWS SDK external), then started in a fresh `node` process
 * that requires the bundle and serves one API Gateway request against DynamoDB Local. The
 * baseline is a function that only imports the DynamoDB client and answers one GetItem.
 * Targets: bundle < 300 KB, cold start ≤ 1.5× the baseline. Also times `cdk synth` against an
 * app with one empty stack. Nothing reaches AWS: KMS/EC2 endpoints point at a closed port.
 */
const ROOT = resolve(__dirname, '..');
const WORK = join(ROOT, 'bench', 'results', `lambda-${process.pid}`);
/** Measured rounds after one warm-up round; every round starts each function once, interleaved. */
const RUNS = 5;
const TABLE = 'bench-lambda';

interface Subject {
  readonly name: string;
  readonly entry: string;
  /** What the one request is; undefined: bundle size only. */
  readonly request?: { readonly what: string; readonly event: unknown };
}

const restEvent = (method: string, path: string, extra: Record<string, unknown> = {}) => ({
  httpMethod: method,
  path,
  resource: path,
  headers: { 'content-type': 'application/json' },
  multiValueHeaders: null,
  queryStringParameters: null,
  multiValueQueryStringParameters: null,
  body: null,
  isBase64Encoded: false,
  requestContext: { requestId: 'bench', identity: { userArn: null, accountId: null } },
  ...extra,
});
const iam = (arn: string) => ({ requestContext: { requestId: 'bench', identity: { userArn: arn, accountId: '111122223333' } } });

const SUBJECTS: Subject[] = [
  { name: 'baseline', entry: join(WORK, 'baseline.ts'), request: { what: 'GetItem', event: restEvent('GET', '/') } },
  { name: 'public-api', entry: 'lambda/public-api.ts', request: { what: 'GET /v1/network', event: restEvent('GET', '/v1/network') } },
  {
    name: 'host-admin',
    entry: 'lambda/host-admin.ts',
    request: { what: 'GET /v1/hosts (IAM)', event: restEvent('GET', '/v1/hosts', iam('arn:aws:sts::111122223333:assumed-role/Admin/bench')) },
  },
  {
    name: 'enroll',
    entry: 'lambda/enroll.ts',
    request: { what: 'POST /v1/enroll, unknown token (401)', event: restEvent('POST', '/v1/enroll', { body: JSON.stringify({ token: 'gwe_unknown', publicKey: x25519Pem() }) }) },
  },
  {
    name: 'host-config',
    entry: 'lambda/host-config.ts',
    request: { what: 'GET config, bad credential (401)', event: restEvent('GET', '/v1/hosts/h-1/config', { headers: { authorization: 'Bearer gwh_unknown' } }) },
  },
  {
    name: 'node-register',
    entry: 'lambda/node-register.ts',
    request: {
      what: 'POST register, EC2 unreachable',
      event: restEvent('POST', '/v1/nodes/register', {
        body: JSON.stringify({ role: 'lighthouse', publicKey: x25519Pem() }),
        ...iam('arn:aws:sts::111122223333:assumed-role/NebulaGateway-lighthouse-node/i-0123456789abcdef0'),
      }),
    },
  },
  { name: 'ca-init', entry: 'lambda/ca-init.ts' },
  { name: 'node-lifecycle', entry: 'lambda/node-lifecycle.ts' },
];

function x25519Pem(): string {
  // A fixed, valid X25519 public key PEM (32 bytes), so the request gets past input validation.
  return `-----BEGIN NEBULA X25519 PUBLIC KEY-----\n${Buffer.alloc(32, 7).toString('base64')}\n-----END NEBULA X25519 PUBLIC KEY-----\n`;
}

const BASELINE_SOURCE = `import { DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
const client = new DynamoDBClient({});
export const handler = async () => {
  const out = await client.send(new GetItemCommand({ TableName: process.env.TABLE_NAME, Key: { pk: { S: 'NETWORK' }, sk: { S: 'NETWORK' } } }));
  return { statusCode: out.Item ? 200 : 404, headers: {}, body: '' };
};
`;

const RUNNER_SOURCE = `const t0 = performance.now();
const { handler } = require(process.argv[2]);
const t1 = performance.now();
handler(JSON.parse(process.argv[3])).then((result) => {
  const cpu = process.cpuUsage();
  process.stdout.write(JSON.stringify({ status: result.statusCode, cpuMs: (cpu.user + cpu.system) / 1000 }));
}, (err) => { process.stderr.write(String(err)); process.exitCode = 1; });
`;

function bundle(subject: Subject): string {
  const outfile = join(WORK, subject.name, 'index.js');
  buildSync({
    entryPoints: [resolve(ROOT, subject.entry)],
    outfile,
    bundle: true,
    platform: 'node',
    minify: FUNCTION_BUNDLING.minify,
    sourcemap: FUNCTION_BUNDLING.sourceMap,
    target: FUNCTION_BUNDLING.target,
    format: 'cjs',
    external: [...FUNCTION_BUNDLING.externalModules],
    logLevel: 'error',
  });
  return outfile;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)];
}

/**
 * One fresh `node` process: require the bundle, serve the event. Wall time from spawn to exit, and
 * the process's own CPU time (user + system), which the machine's other load disturbs far less:
 * the ratio is taken on CPU time.
 */
function coldStart(bundlePath: string, event: unknown, env: NodeJS.ProcessEnv): { wallMs: number; cpuMs: number; status: number } {
  const start = process.hrtime.bigint();
  const run = spawnSync(process.execPath, [join(WORK, 'runner.js'), bundlePath, JSON.stringify(event)], { env, encoding: 'utf8' });
  const wallMs = Number(process.hrtime.bigint() - start) / 1e6;
  if (run.status !== 0) throw new Error(`${bundlePath}: ${run.stderr}`);
  const out = JSON.parse(run.stdout) as { status: number; cpuMs: number };
  return { wallMs, cpuMs: out.cpuMs, status: out.status };
}

function timeSynth(app: string | undefined, out: string): number {
  const start = process.hrtime.bigint();
  // The gateway app needs a configuration (cdk.json sets none): a domain and an admin role.
  const gateway = ['-c', 'gateway={"domain":"bench.acme-corp.io","admins":{"roleArns":["arn:aws:iam::111122223333:role/Admin"]}}'];
  const args = ['cdk', 'synth', '--quiet', '--no-notices', '--output', out, ...(app ? ['--app', app] : gateway)];
  const run = spawnSync('npx', args, { cwd: ROOT, encoding: 'utf8', env: { ...process.env, CDK_DOCKER: '/bin/false' } });
  if (run.status !== 0) throw new Error(`cdk synth failed: ${run.stderr.slice(-2000)}`);
  return Number(process.hrtime.bigint() - start) / 1e6;
}

async function main(): Promise<void> {
  mkdirSync(WORK, { recursive: true });
  const ddb = await startDynamoDbLocal();
  try {
    writeFileSync(join(WORK, 'baseline.ts'), BASELINE_SOURCE);
    writeFileSync(join(WORK, 'runner.js'), RUNNER_SOURCE);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      AWS_ACCESS_KEY_ID: 'testkey',
      AWS_SECRET_ACCESS_KEY: 'testsecret',
      AWS_REGION: 'us-east-1',
      AWS_EC2_METADATA_DISABLED: 'true',
      AWS_ENDPOINT_URL: 'http://127.0.0.1:9',
      AWS_ENDPOINT_URL_DYNAMODB: ddb.endpoint,
      AWS_MAX_ATTEMPTS: '1',
      NODE_PATH: join(ROOT, 'node_modules'),
      TABLE_NAME: TABLE,
      CERT_LIFETIME_HOURS: '24',
      POWERTOOLS_LOG_LEVEL: 'SILENT',
      LIGHTHOUSE_ROLE_NAME: 'NebulaGateway-lighthouse-node',
      PROXY_ROLE_NAME: 'NebulaGateway-proxy-node',
      FLEET_TAG_NETWORK: 'nebula-gateway:network=NebulaGateway',
      FLEET_TAG_ROLE: 'nebula-gateway:role',
      GATEWAY_ADMIN_ROLE_ARNS: 'arn:aws:iam::111122223333:role/Admin',
    };
    const signingEnv = { ...env, CA_KEY_BACKEND: 'kms', CA_KEY_ARN: 'arn:aws:kms:us-east-1:111122223333:key/bench' };
    Object.assign(process.env, { AWS_ACCESS_KEY_ID: 'testkey', AWS_SECRET_ACCESS_KEY: 'testsecret', AWS_REGION: 'us-east-1' });
    const client = new DynamoDBClient({ endpoint: ddb.endpoint });
    await ensureTable(client, TABLE);
    const ca = await createCA({ signer: new LocalSigner(generateEd25519KeyPair().privateKey), name: 'bench CA', duration: '8760h' });
    await new GatewayStore({ client, tableName: TABLE }).initNetwork({
      cidr: '100.100.0.0/16',
      caBundle: ca.toPem(),
      policy: { ...DEFAULT_NETWORK_POLICY },
      createdAt: new Date().toISOString(),
    });
    client.destroy();

    const bundles = new Map(SUBJECTS.map((subject) => [subject.name, bundle(subject)]));
    const measured = SUBJECTS.filter((subject) => subject.request);
    const walls = new Map<string, number[]>(measured.map((subject) => [subject.name, []]));
    const cpus = new Map<string, number[]>(measured.map((subject) => [subject.name, []]));
    const statuses = new Map<string, number>();
    for (let round = 0; round <= RUNS; round++) {
      for (const subject of measured) {
        const signs = subject.name === 'enroll' || subject.name === 'node-register';
        const { wallMs, cpuMs, status } = coldStart(bundles.get(subject.name)!, subject.request!.event, signs ? signingEnv : env);
        if (round > 0) {
          walls.get(subject.name)!.push(wallMs);
          cpus.get(subject.name)!.push(cpuMs);
        }
        statuses.set(subject.name, status);
      }
    }
    const baselineCpuMs = median(cpus.get('baseline')!);
    const rows = SUBJECTS.map((subject) => {
      const kb = statSync(bundles.get(subject.name)!).size / 1024;
      const size = [subject.name, kb.toFixed(1), kb < 300 ? 'ok' : 'OVER'];
      if (!subject.request) return [...size, 'n/a (once per deploy or instance termination)', '', '', ''];
      const cpuMs = median(cpus.get(subject.name)!);
      const ratio = cpuMs / baselineCpuMs;
      return [
        ...size,
        `${subject.request.what} → ${statuses.get(subject.name)}`,
        `${cpuMs.toFixed(0)} / ${median(walls.get(subject.name)!).toFixed(0)}`,
        ratio.toFixed(2),
        ratio <= 1.5 ? 'ok' : 'OVER',
      ];
    });
    const header = ['function', 'bundle KB', '<300KB', 'the one request', `cold start ms, CPU / wall (median of ${RUNS})`, 'CPU ratio', '≤1.5'];
    printTable(header, rows);

    const synthEmptyApp = join(WORK, 'empty-app.ts');
    writeFileSync(synthEmptyApp, "import { App, Stack } from 'aws-cdk-lib/core';\nconst app = new App();\nnew Stack(app, 'Empty');\n");
    const emptyMs = timeSynth(`npx tsx ${synthEmptyApp}`, join(WORK, 'cdk.out.empty'));
    const gatewayMs = timeSynth(undefined, join(WORK, 'cdk.out'));
    process.stdout.write('\n');
    printTable(
      ['cdk synth', 'wall time', 'ratio'],
      [
        ['baseline: one empty stack', `${(emptyMs / 1000).toFixed(1)} s`, '1.00'],
        ['gateway: 6 stacks, 8 bundles, cdk-nag', `${(gatewayMs / 1000).toFixed(1)} s`, (gatewayMs / emptyMs).toFixed(2)],
      ],
    );
  } finally {
    await ddb.stop();
    rmSync(WORK, { recursive: true, force: true });
  }
}


main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exitCode = 1;
});
