import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readCertificateFacts } from '../../src/agent/certificate-facts';
import { generateHostKeyPair, publicKeyOf } from '../../src/agent/keys';
import { lighthousesThatClosed } from '../../src/agent/lighthouse-nudge';
import { DEFAULT_KEY_ROTATION_DAYS, keyRotationDue } from '../../src/agent/renewal';
import { agentPaths, keyPathFor } from '../../src/agent/state-dir';
import { describeWithNebulaCert, nebulaCert, tempDir } from '../pki/support';

const DAY = 86_400_000;

describe('host key rotation: when, and which key file goes with a certificate', () => {
  const now = new Date('2030-06-01T00:00:00Z');
  test.each([
    ['a key made just now, default interval', 0, DEFAULT_KEY_ROTATION_DAYS, false],
    ['a day short of the interval', 29 * DAY, 30, false],
    ['a millisecond short', 30 * DAY - 1, 30, false],
    ['exactly the interval', 30 * DAY, 30, true],
    ['past it', 45 * DAY, 30, true],
    ['0 days: every renewal, even a new key', 0, 0, true],
    ['half a day with 0.5', DAY / 2, 0.5, true],
  ])('%s', (_what, age, days, due) => {
    expect(keyRotationDue(new Date(now.getTime() - age), now, days)).toBe(due);
  });

  test('lighthousesThatClosed: closures by lighthouses only, in JSON and text logs', () => {
    const lines = [
      '{"certName":"lh","level":"info","msg":"Close tunnel received, tearing down.","time":"2026-12-02T14:21:22Z","udpAddr":{"ip":"198.19.107.2","port":4242},"vpnIp":"10.96.0.1"}',
      '{"certName":"px","level":"info","msg":"Close tunnel received, tearing down.","time":"2026-12-02T14:21:22Z","udpAddr":{"ip":"198.19.107.3","port":58654},"vpnIp":"10.96.0.3"}',
      'time="2026-12-02T14:21:23Z" level=info msg="Close tunnel received, tearing down." certName=lh2 udpAddr="198.19.107.5:4242" vpnIp=10.96.0.5',
      '{"level":"info","msg":"Handshake message sent","vpnIp":"10.96.0.1"}',
      '{"level":"info","msg":"Close tunnel received, tearing down.","vpnIp":"10.96.0.10"}',
    ];
    expect(lighthousesThatClosed(lines, ['10.96.0.1', '10.96.0.5'])).toEqual(['10.96.0.1', '10.96.0.5']);
    expect(lighthousesThatClosed(lines, [])).toEqual([]);
  });

  test('keyPathFor: the next key only while it waits and the certificate is for it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'keypath-'));
    try {
      const paths = agentPaths(dir);
      const current = generateHostKeyPair();
      const next = generateHostKeyPair();
      writeFileSync(paths.key, current.privateKeyPem, { mode: 0o600 });
      expect(keyPathFor(paths, publicKeyOf(next.privateKeyPem))).toBe(paths.key);
      writeFileSync(paths.nextKey, next.privateKeyPem, { mode: 0o600 });
      expect(keyPathFor(paths, publicKeyOf(next.privateKeyPem))).toBe(paths.nextKey);
      expect(keyPathFor(paths, publicKeyOf(current.privateKeyPem))).toBe(paths.key);
      writeFileSync(paths.nextKey, 'not a key');
      expect(keyPathFor(paths, publicKeyOf(next.privateKeyPem))).toBe(paths.key);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeWithNebulaCert('certificate facts the key switch relies on', () => {
  test('fingerprint and public key as nebula-cert prints them', () => {
    const dir = tempDir();
    try {
      const keys = generateHostKeyPair();
      writeFileSync(join(dir.path, 'host.pub'), keys.publicKeyPem);
      expect(nebulaCert(dir.path, ['ca', '-name', 'facts-ca', '-duration', '1h']).status).toBe(0);
      expect(nebulaCert(dir.path, ['sign', '-name', 'h', '-ip', '10.42.0.7/16', '-in-pub', 'host.pub', '-out-crt', 'host.crt']).status).toBe(0);
      const printed = JSON.parse(nebulaCert(dir.path, ['print', '-json', '-path', 'host.crt']).stdout) as { fingerprint: string; details: { publicKey: string } };
      const facts = readCertificateFacts(readFileSync(join(dir.path, 'host.crt'), 'utf8'));
      expect(facts.fingerprint).toBe(printed.fingerprint);
      expect(facts.publicKey.toString('hex')).toBe(printed.details.publicKey);
      expect(facts.publicKey.equals(publicKeyOf(keys.privateKeyPem))).toBe(true);
    } finally {
      dir.remove();
    }
  });
});
