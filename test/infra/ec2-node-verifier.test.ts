import { DescribeInstancesCommand, type DescribeInstancesCommandOutput, EC2Client, EC2ServiceException } from '@aws-sdk/client-ec2';
import { mockClient } from 'aws-sdk-client-mock';
import { Ec2NodeVerifier, NodeVerificationError } from '../../src/api/ec2-node-verifier';

// EC2 has no local implementation, so DescribeInstances is mocked with aws-sdk-client-mock.
const ec2 = mockClient(EC2Client);
const verifier = new Ec2NodeVerifier({
  client: new EC2Client({}),
  networkTag: { key: 'nebula-gateway:network', value: 'NebulaGateway' },
  roleTagKey: 'nebula-gateway:role',
});
const ID = 'i-0123456789abcdef0';

function instance(overrides: Record<string, unknown> = {}): Partial<DescribeInstancesCommandOutput> {
  return {
    Reservations: [
      {
        Instances: [
          {
            InstanceId: ID,
            State: { Name: 'running' as const },
            PublicIpAddress: '198.51.100.7',
            PrivateIpAddress: '10.40.1.7',
            Tags: [
              { Key: 'nebula-gateway:network', Value: 'NebulaGateway' },
              { Key: 'nebula-gateway:role', Value: 'proxy' },
            ],
            ...overrides,
          },
        ],
      },
    ],
  };
}

describe('Ec2NodeVerifier', () => {
  beforeEach(() => ec2.reset());

  it('accepts a running instance tagged for the network and the role, returning its addresses', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instance());
    await expect(verifier.verify(ID, 'proxy')).resolves.toEqual({ publicIp: '198.51.100.7', privateIp: '10.40.1.7' });
    expect(ec2.commandCalls(DescribeInstancesCommand)[0].args[0].input).toEqual({ InstanceIds: [ID] });
  });

  it('omits a public address the instance does not have', async () => {
    ec2.on(DescribeInstancesCommand).resolves(instance({ PublicIpAddress: undefined }));
    await expect(verifier.verify(ID, 'proxy')).resolves.toEqual({ privateIp: '10.40.1.7' });
  });

  it.each([
    ['stopped', instance({ State: { Name: 'stopped' } }), 'lighthouse', /is stopped, not running/],
    ['of another role', instance(), 'lighthouse', /tagged nebula-gateway:role=proxy, not lighthouse/],
    ['of another network', instance({ Tags: [{ Key: 'nebula-gateway:network', Value: 'Other' }, { Key: 'nebula-gateway:role', Value: 'proxy' }] }), 'proxy', /not tagged nebula-gateway:network=NebulaGateway/],
    ['untagged', instance({ Tags: undefined }), 'proxy', /not tagged/],
    ['missing from the answer', { Reservations: [] } as Partial<DescribeInstancesCommandOutput>, 'proxy', /does not exist/],
  ] as const)('refuses an instance %s', async (_, answer, role, message) => {
    ec2.on(DescribeInstancesCommand).resolves(answer);
    const attempt = verifier.verify(ID, role);
    await expect(attempt).rejects.toThrow(NodeVerificationError);
    await expect(verifier.verify(ID, role)).rejects.toThrow(message);
  });

  it('turns EC2 not-found into a clear refusal and passes other EC2 errors on', async () => {
    ec2.on(DescribeInstancesCommand).rejects(new EC2ServiceException({ name: 'InvalidInstanceID.NotFound', $fault: 'client', $metadata: {}, message: 'nope' }));
    await expect(verifier.verify(ID, 'proxy')).rejects.toThrow(/does not exist/);
    ec2.on(DescribeInstancesCommand).rejects(new EC2ServiceException({ name: 'RequestLimitExceeded', $fault: 'client', $metadata: {}, message: 'slow down' }));
    await expect(verifier.verify(ID, 'proxy')).rejects.toThrow('slow down');
  });

  it('refuses something that is not an instance id without asking EC2', async () => {
    await expect(verifier.verify('alice', 'proxy')).rejects.toThrow(/not an EC2 instance id/);
    expect(ec2.commandCalls(DescribeInstancesCommand)).toHaveLength(0);
  });
});
