import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse } from 'yaml';
import { writeFileAtomic } from '../../src/agent/atomic-file';
import { CertificateFactsError, readCertificateFacts } from '../../src/agent/certificate-facts';
import { generateHostKeyPair, publicKeyPemFor } from '../../src/agent/keys';
import { localizeConfig } from '../../src/agent/local-config';
import { createLogger } from '../../src/agent/logger';
import { describeNeeding } from '../support/prerequisites';

const withNebulaCert = describeNeeding(['nebula-cert']);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'agent-files-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

withNebulaCert('host keys and certificate facts, checked against nebula-cert', () => {
  beforeAll(() => {
    execFileSync('nebula-cert', ['ca', '-name', 'test-ca', '-duration', '10h', '-out-crt', join(dir, 'ca.crt'), '-out-key', join(dir, 'ca.key')]);
  });

  it('makes a public key nebula-cert signs, and derives the same public key from the private key', () => {
    const pair = generateHostKeyPair();
    expect(pair.privateKeyPem).toMatch(/^-----BEGIN NEBULA X25519 PRIVATE KEY-----\n[A-Za-z0-9+/=]{44}\n-----END NEBULA X25519 PRIVATE KEY-----\n$/);
    writeFileSync(join(dir, 'gen.pub'), pair.publicKeyPem);
    execFileSync('nebula-cert', ['sign', '-ca-crt', join(dir, 'ca.crt'), '-ca-key', join(dir, 'ca.key'), '-name', 'gen', '-ip', '10.42.3.7/16', '-in-pub', join(dir, 'gen.pub'), '-out-crt', join(dir, 'gen.crt')]);
    expect(publicKeyPemFor(pair.privateKeyPem)).toBe(pair.publicKeyPem);
  });

  it("derives the public key of a key nebula-cert made", () => {
    execFileSync('nebula-cert', ['keygen', '-out-key', join(dir, 'k.key'), '-out-pub', join(dir, 'k.pub')]);
    expect(publicKeyPemFor(readFileSync(join(dir, 'k.key'), 'utf8'))).toBe(readFileSync(join(dir, 'k.pub'), 'utf8'));
  });

  it('reads the IP and validity nebula-cert print shows', () => {
    execFileSync('nebula-cert', ['sign', '-ca-crt', join(dir, 'ca.crt'), '-ca-key', join(dir, 'ca.key'), '-name', 'h', '-ip', '10.42.200.9/16', '-groups', 'environment,dev', '-subnets', '192.168.0.0/24', '-in-pub', join(dir, 'k.pub'), '-out-crt', join(dir, 'h.crt'), '-duration', '90m']);
    const printed = JSON.parse(execFileSync('nebula-cert', ['print', '-json', '-path', join(dir, 'h.crt')], { encoding: 'utf8' }));
    const facts = readCertificateFacts(readFileSync(join(dir, 'h.crt'), 'utf8'));
    expect(facts.ip).toBe(printed.details.ips[0]);
    expect(facts.ip).toBe('10.42.200.9/16');
    expect(facts.notBefore.getTime()).toBe(new Date(printed.details.notBefore).getTime());
    expect(facts.notAfter.getTime()).toBe(new Date(printed.details.notAfter).getTime());
  });
});

describe('host files', () => {
  it('refuses a certificate PEM that is not one, or has no IP', () => {
    expect(() => readCertificateFacts('nonsense')).toThrow(CertificateFactsError);
    expect(() => readCertificateFacts('-----BEGIN NEBULA CERTIFICATE-----\nCgA=\n-----END NEBULA CERTIFICATE-----\n')).toThrow(/no IP/);
    expect(() => publicKeyPemFor('-----BEGIN NEBULA X25519 PRIVATE KEY-----\nAAAA\n-----END NEBULA X25519 PRIVATE KEY-----\n')).toThrow(/32 bytes/);
  });

  it('writes atomically with the requested mode and leaves no temp file behind', () => {
    const path = join(dir, 'secret.key');
    writeFileAtomic(path, 'one', 0o600);
    writeFileAtomic(path, 'two', 0o600);
    expect(readFileSync(path, 'utf8')).toBe('two');
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it("points pki.key at the host's key file and inlines the CA and certificate of the same answer", () => {
    const api = 'pki:\n  ca: old\n  cert: old\n  key: /etc/nebula/host.key\n  blocklist: [ab]\nlogging:\n  level: info\n';
    const { document, yaml } = localizeConfig(api, 'CA-PEM', 'CERT-PEM', { keyPath: '/var/lib/agent/host.key', logFormat: 'json' });
    expect(parse(yaml)).toEqual(document);
    expect(document.pki).toEqual({ ca: 'CA-PEM', cert: 'CERT-PEM', key: '/var/lib/agent/host.key', blocklist: ['ab'] });
    expect(document.logging).toEqual({ level: 'info', format: 'json' });
    expect(() => localizeConfig('- a list', 'c', 'c', { keyPath: '/k' })).toThrow(/not a YAML mapping/);
  });
});

describe('agent log lines', () => {
  it('writes one JSON line per event and never a token, credential or private key', () => {
    const lines: string[] = [];
    const log = createLogger('json', { write: (l: string) => lines.push(l) }, () => new Date('2026-01-01T00:00:00Z'));
    const key = generateHostKeyPair().privateKeyPem;
    log.log('info', 'enrolled', { hostId: 'h-1', credential: 'gwh_secret123', token: 'gwe_abc' });
    log.log('error', 'enroll_failed', { error: `rejected gwe_abc_DEF for ${key}` });
    expect(lines).toHaveLength(2);
    expect(JSON.parse(lines[0])).toEqual({ time: '2026-01-01T00:00:00.000Z', level: 'info', event: 'enrolled', hostId: 'h-1', credential: '[redacted]', token: '[redacted]' });
    expect(JSON.parse(lines[1]).error).toBe('rejected [redacted] for [redacted]\n');
    expect(lines.join('')).not.toMatch(/gw[aeh]_|PRIVATE KEY/);
  });

  it('writes text lines with quoted values where needed', () => {
    const lines: string[] = [];
    createLogger('text', { write: (l: string) => lines.push(l) }, () => new Date(0)).log('warn', 'api_unreachable', { error: 'connect ECONNREFUSED', attempt: 2, changed: ['a', 'b'] });
    expect(lines).toEqual(['1970-01-01T00:00:00.000Z warn api_unreachable error="connect ECONNREFUSED" attempt=2 changed=a,b\n']);
  });
});
