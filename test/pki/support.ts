import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CertificateDetails, LocalSigner, NebulaCertificate } from '../../src/pki';
import { describeNeeding } from '../support/prerequisites';

/** Shared by the PKI tests: the real nebula-cert, temp dirs, a seeded PRNG, forged certificates. */

/** `describe` for tests that run the real nebula-cert 1.6.1 (CI fails without it, elsewhere skips). */
export function describeWithNebulaCert(name: string, body: () => void): void {
  describeNeeding(['nebula-cert'])(name, body);
}

export interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs nebula-cert in `cwd` with TZ=UTC (so its times print like ours). */
export function nebulaCert(cwd: string, args: string[]): Run {
  const r = spawnSync('nebula-cert', args, { cwd, encoding: 'utf8', env: { ...process.env, TZ: 'UTC' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export function tempDir(): { path: string; remove(): void } {
  const path = mkdtempSync(join(tmpdir(), 'pki-test-'));
  return { path, remove: () => rmSync(path, { recursive: true, force: true }) };
}

/** mulberry32: a tiny seeded PRNG, so a failing random case reproduces from its seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(random: () => number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = Math.floor(random() * 256);
  return out;
}

/**
 * Signs any details with a CA key, bypassing signCertificate's refusals: how the tests make
 * the certificates verification must reject.
 */
export function forge(details: CertificateDetails, signer: LocalSigner): NebulaCertificate {
  const unsigned = new NebulaCertificate(details, new Uint8Array(64));
  return new NebulaCertificate(unsigned.details, signer.signSync(unsigned.marshalDetails()));
}

export const HOUR = 3_600_000;
