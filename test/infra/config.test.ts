import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError, parseConfig, parseIpv4Cidr, reservedDomain } from '../../lib/config';
import { ADMIN_ROLE_ARN, buildTestApp, MINIMAL_CONFIG } from './support/app';

const admins = { roleArns: [ADMIN_ROLE_ARN] };

describe('gateway configuration (cdk.json context "gateway")', () => {
  it('fills every default from a domain and the admins', () => {
    const config = parseConfig({ domain: 'Dev.Acme-Corp.io', admins });
    expect(config).toEqual({
      name: 'NebulaGateway',
      domain: 'dev.acme-corp.io',
      admins,
      alarms: {},
      hostedZone: { mode: 'create' },
      vpc: { mode: 'create', cidr: '10.40.0.0/16', maxAzs: 2, natGateways: 1 },
      overlayCidr: '100.100.0.0/16',
      certificateLifetimeHours: 24,
      caLifetimeDays: 3650,
      caKeyBackend: 'kms',
      caKeySlot: 'a',
      caNextKey: false,
      lighthouses: { count: 2, instanceType: 't4g.micro' },
      proxies: { min: 2, max: 4, instanceType: 't4g.small' },
      server: { desiredCount: 2, cpu: 256, memoryMiB: 512 },
      api: { rateLimit: 50, burstLimit: 100 },
      logRetentionDays: 30,
    });
  });

  it('accepts a proxy TLS secret by its full ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gateway/tls-AbCdEf';
    expect(parseConfig({ ...MINIMAL_CONFIG, proxies: { tlsSecretArn: arn } }).proxies).toEqual({ min: 2, max: 4, instanceType: 't4g.small', tlsSecretArn: arn });
  });

  it('accepts the JSON text that `cdk -c gateway=...` passes', () => {
    expect(parseConfig(JSON.stringify({ ...MINIMAL_CONFIG, caKeyBackend: 'secret' })).caKeyBackend).toBe('secret');
  });

  it.each([
    [undefined, /context 'gateway' is missing; set at least gateway\.domain and gateway\.admins\.roleArns/],
    ['{not json', /must be a JSON object/],
    [{}, /gateway\.domain: [\s\S]*gateway\.admins: /],
    [{ domain: 'not a domain', admins }, /gateway\.domain: must be a DNS name/],
    [{ domain: 'dev.acme-corp.io' }, /gateway\.admins: /],
    [{ domain: 'dev.acme-corp.io', admins: { roleArns: [] } }, /gateway\.admins\.roleArns: name at least one admin role/],
    [{ domain: 'dev.acme-corp.io', admins: { roleArns: ['arn:aws:iam::111122223333:user/alice'] } }, /gateway\.admins\.roleArns\.0: must be an IAM role ARN/],
    [{ domain: 'dev.acme-corp.io', admins: { roleArns: ['arn:aws:iam::111122223333:role/*'] } }, /gateway\.admins\.roleArns\.0: must be an IAM role ARN/],
    [{ domain: 'dev.acme-corp.io', admins: { roleArns: ['arn:aws:sts::111122223333:assumed-role/Admin/alice'] } }, /gateway\.admins\.roleArns\.0/],
    [{ domain: 'dev.acme-corp.io', admins, alarms: { email: 'not-an-address' } }, /gateway\.alarms\.email: must be an email address/],
    [{ domain: 'dev.example.com', admins }, /gateway\.domain: dev\.example\.com is under the reserved name example\.com \(RFC 2606\/6761\)/],
    [{ domain: 'gw.test', admins }, /gateway\.domain: gw\.test is under the reserved name test/],
    [{ ...MINIMAL_CONFIG, overlayCidr: '10.40.8.0/24' }, /gateway\.overlayCidr: 10\.40\.8\.0\/24 overlaps the VPC's 10\.40\.0\.0\/16/],
    [{ ...MINIMAL_CONFIG, overlayCidr: '100.64.0.1/16' }, /gateway\.overlayCidr: must be an IPv4 CIDR/],
    [{ ...MINIMAL_CONFIG, hostedZone: { mode: 'import', id: 'Z0123456789ABC', name: 'other.org' } }, /gateway\.domain: dev\.acme-corp\.io is not inside the hosted zone other\.org/],
    [{ ...MINIMAL_CONFIG, hostedZone: { mode: 'import', name: 'acme-corp.io' } }, /gateway\.hostedZone\.id/],
    [{ ...MINIMAL_CONFIG, hostedZone: { mode: 'lookup' } }, /gateway\.hostedZone\.mode/],
    [{ ...MINIMAL_CONFIG, vpc: { mode: 'import', vpcId: 'vpc-0123456789abcdef0', cidr: '10.0.0.0/16', availabilityZones: ['eu-west-1a'], publicSubnetIds: [], privateSubnetIds: [] } }, /gateway\.vpc\.availabilityZones: needs at least 2/],
    [{ ...MINIMAL_CONFIG, proxies: { min: 5, max: 3 } }, /gateway\.proxies\.min: min must not exceed max/],
    [{ ...MINIMAL_CONFIG, proxies: { tlsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gateway/tls' } }, /gateway\.proxies\.tlsSecretArn: must be the full ARN of a Secrets Manager secret, with its 6-character suffix/],
    [{ ...MINIMAL_CONFIG, proxies: { tlsSecretArn: 'arn:aws:s3:::bucket/tls-AbCdEf' } }, /gateway\.proxies\.tlsSecretArn/],
    [{ ...MINIMAL_CONFIG, lighthouses: { count: 0 } }, /gateway\.lighthouses\.count/],
    [{ ...MINIMAL_CONFIG, server: { desiredCount: 0 } }, /gateway\.server\.desiredCount/],
    [{ ...MINIMAL_CONFIG, lighthouses: { instanceType: 'micro' } }, /gateway\.lighthouses\.instanceType: must be an EC2 instance type/],
    [{ ...MINIMAL_CONFIG, caKeyBackend: 'hsm' }, /gateway\.caKeyBackend/],
    [{ ...MINIMAL_CONFIG, certificateLifetimeHours: 0 }, /gateway\.certificateLifetimeHours/],
    [{ ...MINIMAL_CONFIG, logRetentionDays: 8 }, /gateway\.logRetentionDays: must be one of CloudWatch's retention periods/],
    [{ ...MINIMAL_CONFIG, domian: 'typo.example.com' }, /Unrecognized key: "domian"/],
  ])('rejects %j naming the key', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it('lists every problem at once', () => {
    expect(() => parseConfig({ domain: 'x', admins, caKeyBackend: 'hsm' })).toThrow(/gateway\.domain[\s\S]*gateway\.caKeyBackend/);
  });

  it('fails the app at construction (synth) with the ConfigError', () => {
    expect(() => buildTestApp({ ...MINIMAL_CONFIG, overlayCidr: '10.40.0.0/8' } as never)).toThrow(/gateway\.overlayCidr/);
  });

  it('refuses the names RFC 2606 and 6761 reserve, and every name under them; accepts look-alikes', () => {
    for (const name of ['example', 'example.com', 'dev.example.net', 'a.b.example.org', 'test', 'x.test', 'invalid', 'localhost', 'gw.localhost', 'printer.local', 'EXAMPLE.COM']) {
      expect([name, reservedDomain(name)]).toEqual([name, expect.any(String)]);
    }
    for (const name of ['acme-corp.io', 'myexample.com', 'example.co', 'testing.dev', 'local.acme-corp.io', 'example.com.acme-corp.io']) {
      expect([name, reservedDomain(name)]).toEqual([name, undefined]);
      expect(parseConfig({ domain: name, admins }).domain).toBe(name);
    }
  });

  it('cdk.json sets no domain: a plain `cdk synth` must be told one', () => {
    const context = (JSON.parse(readFileSync(resolve(__dirname, '../../cdk.json'), 'utf8')) as { context: Record<string, unknown> }).context;
    expect(context.gateway).toBeUndefined();
  });

  it('parses CIDRs as networks only', () => {
    expect(parseIpv4Cidr('10.0.0.0/8')).toEqual({ start: 0x0a000000, end: 0x0affffff });
    expect(parseIpv4Cidr('10.0.0.1/8')).toBeUndefined();
    expect(parseIpv4Cidr('256.0.0.0/8')).toBeUndefined();
    expect(parseIpv4Cidr('10.0.0.0/31')).toBeUndefined();
  });
});
