import { Match, Template } from 'aws-cdk-lib/assertions';
import type { GatewayStacks } from '../../lib/app';
import { ROUTES } from '../../lib/constructs/gateway-api';
import { buildTestApp, PRODUCTION_CONFIG } from './support/app';

/** The templates of `config`, synthesised (cdk-nag included: an unacknowledged finding throws). */
function synth(config: object): Record<'state' | 'api' | 'server', Template> {
  const { app, stacks } = buildTestApp({ ...PRODUCTION_CONFIG, ...config });
  app.synth();
  const of = (s: keyof GatewayStacks) => Template.fromStack(stacks[s] as never);
  return { state: of('state'), api: of('api'), server: of('server') };
}

type Resources = Record<string, { Type: string; Properties: Record<string, any> }>;
const ed25519Keys = (t: Template) => t.findResources('AWS::KMS::Key', { Properties: { KeySpec: 'ECC_NIST_EDWARDS25519', KeyUsage: 'SIGN_VERIFY' } }) as Resources;
const functionEnv = (t: Template, descriptionPart: string): Record<string, unknown> => {
  const fns = Object.values(t.findResources('AWS::Lambda::Function') as Resources).filter((f) => String(f.Properties.Description).includes(descriptionPart));
  expect(fns).toHaveLength(1);
  return fns[0].Properties.Environment.Variables as Record<string, unknown>;
};

describe('CA rotation in the stacks', () => {
  let plain: ReturnType<typeof synth>;
  let withNext: ReturnType<typeof synth>;
  let rolled: ReturnType<typeof synth>;

  beforeAll(() => {
    plain = synth({});
    withNext = synth({ caNextKey: true });
    rolled = synth({ caKeySlot: 'b' });
  });

  it('has no next key by default: two Ed25519 keys (CA, access tokens), no NEXT_CA_KEY anywhere', () => {
    expect(Object.keys(ed25519Keys(plain.state))).toHaveLength(2);
    for (const t of [plain.api, plain.server]) expect(JSON.stringify(t.toJSON())).not.toContain('NEXT_CA_KEY');
  });

  it('caNextKey makes a third Ed25519 KMS key in slot b, retained, and keeps slot a where it was', () => {
    const before = Object.keys(ed25519Keys(plain.state));
    const after = ed25519Keys(withNext.state);
    expect(Object.keys(after)).toHaveLength(3);
    expect(Object.keys(after)).toEqual(expect.arrayContaining(before));
    withNext.state.hasResource('AWS::KMS::Key', {
      DeletionPolicy: 'RetainExceptOnCreate',
      Properties: Match.objectLike({ KeySpec: 'ECC_NIST_EDWARDS25519', Description: Match.stringLikeRegexp('next CA') }),
    });
  });

  it('gives the signing functions and the server both keys, and the admin function the next key alone', () => {
    const arnOf = (env: Record<string, unknown>, name: string) => JSON.stringify(env[name]);
    const enroll = functionEnv(withNext.api, 'POST /v1/enroll');
    expect(enroll).toEqual(expect.objectContaining({ CA_KEY_BACKEND: 'kms', NEXT_CA_KEY_BACKEND: 'kms', CA_KEY_ARN: expect.anything(), NEXT_CA_KEY_ARN: expect.anything() }));
    expect(arnOf(enroll, 'CA_KEY_ARN')).not.toBe(arnOf(enroll, 'NEXT_CA_KEY_ARN'));
    const admin = functionEnv(withNext.api, 'Admin routes');
    expect(admin).toEqual(expect.objectContaining({ NEXT_CA_KEY_BACKEND: 'kms', NEXT_CA_KEY_ARN: enroll.NEXT_CA_KEY_ARN }));
    expect(admin.CA_KEY_ARN).toBeUndefined();
    withNext.server.hasResourceProperties('AWS::ECS::TaskDefinition', {
      ContainerDefinitions: Match.arrayWith([
        Match.objectLike({ Environment: Match.arrayWith([Match.objectLike({ Name: 'CA_KEY_ARN' }), Match.objectLike({ Name: 'NEXT_CA_KEY_ARN' })]) }),
      ]),
    });
    // Sign + GetPublicKey on the next key for the two signing functions and the admin one; the admin one not on the current key.
    const policies = Object.entries(withNext.api.findResources('AWS::IAM::Policy') as Resources);
    const kmsSignResources = (idPart: string) =>
      policies
        .filter(([id]) => id.includes(idPart))
        .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Record<string, any>[])
        .filter((st) => [st.Action].flat().includes('kms:Sign'))
        .flatMap((st) => [st.Resource].flat().map((r) => JSON.stringify(r)));
    const next = JSON.stringify(enroll.NEXT_CA_KEY_ARN);
    const current = JSON.stringify(enroll.CA_KEY_ARN);
    for (const fn of ['Enroll', 'NodeRegister']) expect(kmsSignResources(fn)).toEqual(expect.arrayContaining([current, next]));
    expect(kmsSignResources('HostAdmin')).toContain(next);
    expect(kmsSignResources('HostAdmin')).not.toContain(current);
  });

  it('routes POST /v1/network/ca-rotation to the admin function with IAM', () => {
    expect(ROUTES).toContainEqual({ method: 'POST', path: '/v1/network/ca-rotation', fn: 'hostAdmin', auth: 'IAM' });
  });

  it('after the roll (slot b current, no next key) the slot b key is the CA key and slot a is gone from the template', () => {
    const slotB = Object.keys(ed25519Keys(withNext.state)).filter((id) => !Object.keys(ed25519Keys(plain.state)).includes(id));
    expect(slotB).toHaveLength(1);
    const rolledKeys = Object.keys(ed25519Keys(rolled.state));
    expect(rolledKeys).toHaveLength(2);
    expect(rolledKeys).toContain(slotB[0]);
    const env = functionEnv(rolled.api, 'POST /v1/enroll');
    expect(JSON.stringify(env.CA_KEY_ARN)).toContain(slotB[0]);
    expect(env.NEXT_CA_KEY_ARN).toBeUndefined();
  });

  it('alarms when the CA has fewer than 30 and fewer than 7 days left', () => {
    for (const days of [30, 7]) {
      plain.state.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: `NebulaGateway-ca-expiry-${days}d`,
        MetricName: 'CaCertificateDaysToExpiry',
        Namespace: 'NebulaGateway',
        Dimensions: [{ Name: 'Network', Value: 'NebulaGateway' }],
        Statistic: 'Minimum',
        Threshold: days,
        ComparisonOperator: 'LessThanThreshold',
        AlarmActions: Match.anyValue(),
      });
    }
  });
});
