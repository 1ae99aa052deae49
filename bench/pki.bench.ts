import { spawnSync } from 'node:child_process';
import { createPublicKey, sign, verify } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import nacl from 'tweetnacl';
import {
  CAPool,
  createCA,
  encodeEd25519PrivateKeyPem,
  encodeX25519PublicKeyPem,
  generateEd25519KeyPair,
  generateX25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  signCertificate,
} from '../src/pki';

/**
 * Issuing (build details, encode, sign, PEM) and checking (PEM decode, strict decode, verify)
 * certificates, each against raw node:crypto Ed25519 on the same bytes in the same run. The
 * machine is shared and noisy, so subject and baseline run in many short blocks, back to back
 * in alternating order; each pair gives a ratio and the median ratio counts.
 */
const ROUNDS = 25;
const OPS = 800;

/**
 * Operations per second of this process's CPU time (user + system), not wall time: on a machine
 * shared with other jobs, wall time mostly measures the neighbours.
 */
async function opsPerSecond(ops: number, body: (i: number) => unknown): Promise<number> {
  const start = process.cpuUsage();
  for (let i = 0; i < ops; i++) await body(i);
  const used = process.cpuUsage(start);
  return ops / ((used.user + used.system) / 1e6);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function main(): Promise<void> {
  const caKeys = generateEd25519KeyPair();
  const signer = new LocalSigner(caKeys.privateKey);
  const ca = await createCA({ signer, name: 'bench CA', duration: '8760h', ips: ['10.0.0.0/8'], groups: ['environment', 'lighthouse', 'proxy', 'team-a'] });
  const pool = CAPool.fromCertificates([ca]);
  const hostKey = generateX25519KeyPair().publicKey;
  const issue = (i: number) =>
    signCertificate({ ca, signer, name: `env-${i}`, ips: [`10.${(i >> 16) & 255}.${(i >> 8) & 255}.${(i & 255) | 1}/8`], groups: ['environment', 'team-a'], publicKey: hostKey, duration: 86_400_000 }).then((c) =>
      c.toPem(),
    );

  // The same details bytes a certificate carries, for the raw baselines.
  const sample = NebulaCertificate.fromPem(await issue(1));
  const details = sample.marshalDetails();
  const privateKey = (await import('node:crypto')).createPrivateKey({
    key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), caKeys.privateKey.subarray(0, 32)]),
    format: 'der',
    type: 'pkcs8',
  });
  const publicKey = createPublicKey(privateKey);
  const signature = sign(null, details, privateKey);
  const pems = await Promise.all(Array.from({ length: 256 }, (_, i) => issue(i)));
  const now = new Date();

  for (let i = 0; i < 300; i++) {
    await issue(i);
    pool.verify(NebulaCertificate.fromPem(pems[i & 255]), { now });
    verify(null, details, publicKey, signature);
  }

  const rawSign: number[] = [];
  const issued: number[] = [];
  const rawVerify: number[] = [];
  const checked: number[] = [];
  const issueRatios: number[] = [];
  const checkRatios: number[] = [];
  const pair = async (base: () => Promise<number>, subject: () => Promise<number>, bases: number[], subjects: number[], ratios: number[], flip: boolean) => {
    const [b, s] = flip ? [await base(), await subject()] : (([x, y]) => [y, x])([await subject(), await base()]);
    bases.push(b);
    subjects.push(s);
    ratios.push(s / b);
  };
  for (let r = 0; r < ROUNDS; r++) {
    const flip = r % 2 === 0;
    await pair(() => opsPerSecond(OPS, () => sign(null, details, privateKey)), () => opsPerSecond(OPS, issue), rawSign, issued, issueRatios, flip);
    await pair(
      () => opsPerSecond(OPS, () => verify(null, details, publicKey, signature)),
      () => opsPerSecond(OPS, (i) => pool.verify(NebulaCertificate.fromPem(pems[i & 255]), { now })),
      rawVerify,
      checked,
      checkRatios,
      flip,
    );
  }

  const naclKey = nacl.sign.keyPair.fromSeed(caKeys.privateKey.subarray(0, 32)).secretKey;
  const naclRate = await opsPerSecond(40, () => nacl.sign.detached(details, naclKey));

  const processCost = nebulaCertSignCost(caKeys.privateKey, ca.toPem());

  const rows: [string, string, string][] = [
    ['raw node:crypto Ed25519 sign (baseline)', fmt(median(rawSign)), ''],
    ['issue certificate (build, encode, sign, PEM)', fmt(median(issued)), `${median(issueRatios).toFixed(2)} x baseline (median paired ratio)`],
    ['raw node:crypto Ed25519 verify (baseline)', fmt(median(rawVerify)), ''],
    ['PEM decode + strict decode + CAPool.verify', fmt(median(checked)), `${median(checkRatios).toFixed(2)} x baseline (median paired ratio)`],
    ['tweetnacl sign (reference)', fmt(naclRate), ratio(naclRate, median(rawSign))],
    ['`nebula-cert sign` process per certificate (reference)', processCost === undefined ? 'n/a (nebula-cert missing)' : fmt(1000 / processCost), processCost === undefined ? '' : `${processCost.toFixed(1)} ms each`],
  ];
  const width = Math.max(...rows.map((r) => r[0].length));
  process.stdout.write(`${'operation'.padEnd(width)}  ${'ops/s'.padStart(10)}  ratio / note\n`);
  for (const [name, rate, note] of rows) process.stdout.write(`${name.padEnd(width)}  ${rate.padStart(10)}  ${note}\n`);
  process.stdout.write(`\nops per CPU-second; medians over ${ROUNDS} alternating pairs of ${OPS}-op blocks; targets: both paired ratios >= 0.80\n`);
}

function fmt(rate: number): string {
  return Math.round(rate).toLocaleString('en-US');
}

function ratio(a: number, b: number): string {
  return `${(a / b).toFixed(2)} x baseline`;
}

/** Mean milliseconds for `nebula-cert sign -in-pub` over a few runs, or undefined without nebula-cert. */
function nebulaCertSignCost(caPrivateKey: Uint8Array, caPem: string): number | undefined {
  const dir = mkdtempSync(join(tmpdir(), 'pki-bench-'));
  try {
    writeFileSync(join(dir, 'ca.key'), encodeEd25519PrivateKeyPem(caPrivateKey));
    writeFileSync(join(dir, 'ca.crt'), caPem);
    writeFileSync(join(dir, 'h.pub'), encodeX25519PublicKeyPem(generateX25519KeyPair().publicKey));
    const runs = 15;
    const start = process.hrtime.bigint();
    for (let i = 0; i < runs; i++) {
      const r = spawnSync('nebula-cert', ['sign', '-name', `h${i}`, '-ip', `10.0.0.${i + 1}/8`, '-in-pub', 'h.pub', '-out-crt', `h${i}.crt`], { cwd: dir });
      if (r.error || r.status !== 0) return undefined;
    }
    return Number(process.hrtime.bigint() - start) / 1e6 / runs;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack}\n`);
  process.exitCode = 1;
});
