import { DescribeInstancesCommand, type EC2Client, type Instance } from '@aws-sdk/client-ec2';
import type { NodeVerifier } from './settings';

/** Why an instance is not accepted as a node; the message says what EC2 reported. */
export class NodeVerificationError extends Error {
  override readonly name = 'NodeVerificationError';
}

export interface Ec2NodeVerifierOptions {
  readonly client: EC2Client;
  /** The tag every instance of this gateway carries, e.g. `{key: 'nebula-gateway:network', value: 'NebulaGateway'}`. */
  readonly networkTag: { readonly key: string; readonly value: string };
  /** Tag key whose value is the instance's fleet: `lighthouse`, `proxy` or `egress`. */
  readonly roleTagKey: string;
}

/**
 * A NodeVerifier backed by EC2 DescribeInstances: the instance must exist, be running, carry this
 * gateway's network tag and the requested role's fleet tag. Returns its addresses as EC2 reports
 * them (a lighthouse's public address is its Elastic IP once associated).
 */
export class Ec2NodeVerifier implements NodeVerifier {
  constructor(private readonly options: Ec2NodeVerifierOptions) {}

  async verify(instanceId: string, role: 'lighthouse' | 'proxy' | 'egress'): Promise<{ publicIp?: string; privateIp?: string }> {
    const instance = await this.describe(instanceId);
    const state = instance.State?.Name;
    if (state !== 'running') throw new NodeVerificationError(`instance ${instanceId} is ${state ?? 'in an unknown state'}, not running`);
    // Stryker disable next-line ArrayDeclaration: an untagged instance has neither tag, whatever stands in for its missing list
    const tags = new Map((instance.Tags ?? []).map((t) => [t.Key, t.Value]));
    const { networkTag, roleTagKey } = this.options;
    if (tags.get(networkTag.key) !== networkTag.value) {
      throw new NodeVerificationError(`instance ${instanceId} is not tagged ${networkTag.key}=${networkTag.value}`);
    }
    if (tags.get(roleTagKey) !== role) {
      throw new NodeVerificationError(`instance ${instanceId} is tagged ${roleTagKey}=${tags.get(roleTagKey) ?? '(none)'}, not ${role}`);
    }
    return {
      ...(instance.PublicIpAddress ? { publicIp: instance.PublicIpAddress } : {}),
      ...(instance.PrivateIpAddress ? { privateIp: instance.PrivateIpAddress } : {}),
    };
  }

  private async describe(instanceId: string): Promise<Instance> {
    if (!/^i-[0-9a-f]{8,17}$/.test(instanceId)) throw new NodeVerificationError(`${instanceId} is not an EC2 instance id`);
    try {
      const out = await this.options.client.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
      // Stryker disable next-line ArrayDeclaration: a reservation without instances holds none with this id, whatever stands in for its list
      const instance = out.Reservations?.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
      if (!instance) throw new NodeVerificationError(`instance ${instanceId} does not exist`);
      return instance;
    } catch (err) {
      if ((err as { name?: string }).name === 'InvalidInstanceID.NotFound') {
        throw new NodeVerificationError(`instance ${instanceId} does not exist`);
      }
      throw err;
    }
  }
}
