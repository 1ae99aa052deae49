import { ConfigError, parseConfig, parseIpv4Cidr } from '../../lib/config';
import { buildTestApp } from './support/app';

describe('gateway configuration (cdk.json context "gateway")', () => {
  it('fills every default from just a domain', () => {
    const config = parseConfig({ domain: 'Dev.Example.com' });
    expect(config).toEqual({
      name: 'NebulaGateway',
      domain: 'dev.example.com',
      hostedZone: { mode: 'create' },
      vpc: { mode: 'create', cidr: '10.40.0.0/16', maxAzs: 2, natGateways: 1 },
      overlayCidr: '100.100.0.0/16',
      certificateLifetimeHours: 24,
      caLifetimeDays: 3650,
      caKeyBackend: 'kms',
      lighthouses: { count: 2, instanceType: 't4g.micro' },
      proxies: { min: 2, max: 4, instanceType: 't4g.small' },
      server: { desiredCount: 1, cpu: 256, memoryMiB: 512 },
      api: { rateLimit: 50, burstLimit: 100 },
      logRetentionDays: 30,
    });
  });

  it('accepts a proxy TLS secret by its full ARN', () => {
    const arn = 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gateway/tls-AbCdEf';
    expect(parseConfig({ domain: 'dev.example.com', proxies: { tlsSecretArn: arn } }).proxies).toEqual({ min: 2, max: 4, instanceType: 't4g.small', tlsSecretArn: arn });
  });

  it('accepts the JSON text that `cdk -c gateway=...` passes', () => {
    expect(parseConfig('{"domain":"dev.example.com","caKeyBackend":"secret"}').caKeyBackend).toBe('secret');
  });

  it.each([
    [undefined, /context 'gateway' is missing/],
    ['{not json', /must be a JSON object/],
    [{}, /gateway\.domain: /],
    [{ domain: 'not a domain' }, /gateway\.domain: must be a DNS name/],
    [{ domain: 'dev.example.com', overlayCidr: '10.40.8.0/24' }, /gateway\.overlayCidr: 10\.40\.8\.0\/24 overlaps the VPC's 10\.40\.0\.0\/16/],
    [{ domain: 'dev.example.com', overlayCidr: '100.64.0.1/16' }, /gateway\.overlayCidr: must be an IPv4 CIDR/],
    [{ domain: 'dev.example.com', hostedZone: { mode: 'import', id: 'Z0123456789ABC', name: 'other.org' } }, /gateway\.domain: dev\.example\.com is not inside the hosted zone other\.org/],
    [{ domain: 'dev.example.com', hostedZone: { mode: 'import', name: 'example.com' } }, /gateway\.hostedZone\.id/],
    [{ domain: 'dev.example.com', hostedZone: { mode: 'lookup' } }, /gateway\.hostedZone\.mode/],
    [{ domain: 'dev.example.com', vpc: { mode: 'import', vpcId: 'vpc-0123456789abcdef0', cidr: '10.0.0.0/16', availabilityZones: ['eu-west-1a'], publicSubnetIds: [], privateSubnetIds: [] } }, /gateway\.vpc\.availabilityZones: needs at least 2/],
    [{ domain: 'dev.example.com', proxies: { min: 5, max: 3 } }, /gateway\.proxies\.min: min must not exceed max/],
    [{ domain: 'dev.example.com', proxies: { tlsSecretArn: 'arn:aws:secretsmanager:eu-west-1:111122223333:secret:gateway/tls' } }, /gateway\.proxies\.tlsSecretArn: must be the full ARN of a Secrets Manager secret, with its 6-character suffix/],
    [{ domain: 'dev.example.com', proxies: { tlsSecretArn: 'arn:aws:s3:::bucket/tls-AbCdEf' } }, /gateway\.proxies\.tlsSecretArn/],
    [{ domain: 'dev.example.com', lighthouses: { count: 0 } }, /gateway\.lighthouses\.count/],
    [{ domain: 'dev.example.com', lighthouses: { instanceType: 'micro' } }, /gateway\.lighthouses\.instanceType: must be an EC2 instance type/],
    [{ domain: 'dev.example.com', caKeyBackend: 'hsm' }, /gateway\.caKeyBackend/],
    [{ domain: 'dev.example.com', certificateLifetimeHours: 0 }, /gateway\.certificateLifetimeHours/],
    [{ domain: 'dev.example.com', logRetentionDays: 8 }, /gateway\.logRetentionDays: must be one of CloudWatch's retention periods/],
    [{ domain: 'dev.example.com', domian: 'typo.example.com' }, /Unrecognized key: "domian"/],
  ])('rejects %j naming the key', (raw, message) => {
    expect(() => parseConfig(raw)).toThrow(ConfigError);
    expect(() => parseConfig(raw)).toThrow(message);
  });

  it('lists every problem at once', () => {
    expect(() => parseConfig({ domain: 'x', caKeyBackend: 'hsm' })).toThrow(/gateway\.domain[\s\S]*gateway\.caKeyBackend/);
  });

  it('fails the app at construction (synth) with the ConfigError', () => {
    expect(() => buildTestApp({ domain: 'dev.example.com', overlayCidr: '10.40.0.0/8' } as never)).toThrow(/gateway\.overlayCidr/);
  });

  it('parses CIDRs as networks only', () => {
    expect(parseIpv4Cidr('10.0.0.0/8')).toEqual({ start: 0x0a000000, end: 0x0affffff });
    expect(parseIpv4Cidr('10.0.0.1/8')).toBeUndefined();
    expect(parseIpv4Cidr('256.0.0.0/8')).toBeUndefined();
    expect(parseIpv4Cidr('10.0.0.0/31')).toBeUndefined();
  });
});
