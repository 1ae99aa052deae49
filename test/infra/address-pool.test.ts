import { Match, Template } from 'aws-cdk-lib/assertions';
import { App, Stack } from 'aws-cdk-lib/core';
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import type { GatewayStacks } from '../../lib/app';
import { addressPool, EIP_POOL_TAG, grantAssociateOwnAddress } from '../../lib/constructs/address-pool';
import { buildTestApp, cdkJsonContext, PRODUCTION_CONFIG } from './support/app';

// The Elastic IP pools and the grant that lets a fleet's instances claim one of them at boot
// (lighthouses; egress nodes also in egress-fleet.test.ts). The grant may use documented IAM
// condition keys only: a key IAM does not evaluate makes its statement never match, and then
// no instance could claim its address.

const ENV = { account: '111122223333', region: 'eu-west-1' };
const instanceArn = 'arn:aws:ec2:eu-west-1:111122223333:instance/*';
const eipArn = (id: string) => ({ 'Fn::Join': ['', ['arn:aws:ec2:eu-west-1:111122223333:elastic-ip/', { 'Fn::GetAtt': [id, 'AllocationId'] }]] });
const tags = (role: string, network: string) => ({ StringEquals: { 'aws:ResourceTag/nebula-gateway:role': role, 'aws:ResourceTag/nebula-gateway:network': network } });

describe('grantAssociateOwnAddress', () => {
  function grantIn(instanceActions?: string[]): Template {
    // cdk.json's flags, as the app has them (a literal partition in ARNs, minimized policies).
    const stack = new Stack(new App({ context: cdkJsonContext() }), 'S', { env: ENV });
    const role = new Role(stack, 'Role', { assumedBy: new ServicePrincipal('ec2.amazonaws.com') });
    const addresses = addressPool(stack, 2, 'net-egress');
    grantAssociateOwnAddress(role, { addresses, network: 'net', fleetRole: 'egress', instanceActions });
    return Template.fromStack(stack);
  }

  it('makes the pool: Address1..N, VPC addresses tagged with the pool name', () => {
    const t = grantIn();
    expect(Object.keys(t.findResources('AWS::EC2::EIP')).map((id) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual(['Address1', 'Address2']);
    t.allResourcesProperties('AWS::EC2::EIP', Match.objectEquals({ Domain: 'vpc', Tags: [{ Key: EIP_POOL_TAG, Value: 'net-egress' }] }));
  });

  it("allows AssociateAddress on exactly the pool's allocation ARNs and, by tag, on the fleet's instances (with the extra instance actions)", () => {
    const t = grantIn(['ec2:ModifyInstanceAttribute']);
    const ids = Object.keys(t.findResources('AWS::EC2::EIP'));
    t.resourceCountIs('AWS::IAM::Policy', 1);
    t.hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: {
        Statement: [
          Match.objectEquals({ Effect: 'Allow', Action: 'ec2:AssociateAddress', Resource: ids.map(eipArn) }),
          Match.objectEquals({ Effect: 'Allow', Action: ['ec2:AssociateAddress', 'ec2:ModifyInstanceAttribute'], Resource: instanceArn, Condition: tags('egress', 'net') }),
        ],
      },
    });
  });

  it('without extra actions, allows AssociateAddress alone on the instances', () => {
    grantIn().hasResourceProperties('AWS::IAM::Policy', {
      PolicyDocument: { Statement: Match.arrayWith([Match.objectEquals({ Effect: 'Allow', Action: 'ec2:AssociateAddress', Resource: instanceArn, Condition: tags('egress', 'net') })]) },
    });
  });
});

describe('the lighthouse fleet in the app', () => {
  let stacks: GatewayStacks;
  let fleets: Template;

  beforeAll(() => {
    const built = buildTestApp(PRODUCTION_CONFIG);
    stacks = built.stacks;
    built.app.synth();
    fleets = Template.fromStack(stacks.fleets);
  });

  it("may associate its pool's two addresses, with this network's lighthouses only", () => {
    const pool = Object.entries(fleets.findResources('AWS::EC2::EIP')).filter(([id]) => id.startsWith('LighthousesAddress'));
    expect(pool.map(([id]) => id.replace(/[0-9A-F]{8}$/, ''))).toEqual(['LighthousesAddress1', 'LighthousesAddress2']);
    for (const [, eip] of pool) expect(eip.Properties).toEqual({ Domain: 'vpc', Tags: [{ Key: EIP_POOL_TAG, Value: 'NebulaGateway-lighthouse' }] });
    const ids = pool.map(([id]) => id);
    fleets.hasResourceProperties('AWS::IAM::Policy', {
      Roles: [{ Ref: Match.stringLikeRegexp('^LighthousesRole') }],
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectEquals({ Effect: 'Allow', Action: 'ec2:AssociateAddress', Resource: ids.map(eipArn) }),
          Match.objectEquals({ Effect: 'Allow', Action: 'ec2:AssociateAddress', Resource: instanceArn, Condition: tags('lighthouse', 'NebulaGateway') }),
        ]),
      },
    });
  });

  it('no statement anywhere uses the undocumented aws:ARN key, and no ec2 statement a key other than the fleet tags', () => {
    const templates = (['monitoring', 'network', 'state', 'api', 'server', 'fleets'] as const).map((name) => Template.fromStack(stacks[name]!).toJSON());
    expect(JSON.stringify(templates)).not.toMatch(/"aws:ARN"\s*:/i);
    type Statement = { Action: string | string[]; Condition?: Record<string, Record<string, unknown>> };
    const ec2 = templates
      .flatMap((t) => Object.values(t.Resources as Record<string, { Type: string; Properties?: any }>))
      .filter((r) => r.Type === 'AWS::IAM::Policy')
      .flatMap((p) => p.Properties.PolicyDocument.Statement as Statement[])
      .filter((s) => [s.Action].flat().some((a) => a.startsWith('ec2:')));
    expect(ec2.length).toBeGreaterThan(0);
    const keys = ec2.flatMap((s) => Object.values(s.Condition ?? {}).flatMap((c) => Object.keys(c)));
    expect([...new Set(keys)].sort()).toEqual(['aws:ResourceTag/nebula-gateway:network', 'aws:ResourceTag/nebula-gateway:role']);
  });
});
