import { Stack, Tags, Validations } from 'aws-cdk-lib/core';
import { CfnEIP } from 'aws-cdk-lib/aws-ec2';
import { PolicyStatement, type Role } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { FleetRole } from '../config';
import { nagEnvironment } from '../nag';
import { FLEET_TAGS } from './node-fleet';

/** Tag key of every Elastic IP pool (`<name>-lighthouse`, `<name>-egress`): names the pool for operators. */
export const EIP_POOL_TAG = 'nebula-gateway:eip-pool';

/** `count` Elastic IPs, `Address1` to `Address<count>` in `scope`, tagged `EIP_POOL_TAG=<pool>`. */
export function addressPool(scope: Construct, count: number, pool: string): CfnEIP[] {
  return Array.from({ length: count }, (_, i) => {
    const eip = new CfnEIP(scope, `Address${i + 1}`, { domain: 'vpc' });
    Tags.of(eip).add(EIP_POOL_TAG, pool);
    return eip;
  });
}

export interface OwnAddressGrant {
  /** The pool: the only addresses the role may associate. */
  readonly addresses: readonly CfnEIP[];
  /** `gateway.name`: the `nebula-gateway:network` tag of the fleet's instances. */
  readonly network: string;
  /** The `nebula-gateway:role` tag of the fleet's instances. */
  readonly fleetRole: FleetRole;
  /** More actions the instances need on themselves at boot (egress: `ec2:ModifyInstanceAttribute`). */
  readonly instanceActions?: readonly string[];
}

/**
 * Lets a fleet's instances claim an address of their pool at boot (node-bootstrap.ts): `ec2:AssociateAddress`
 * on exactly the pool's allocation ARNs, and on instances carrying this network's and this fleet's tags
 * (with `instanceActions`). Documented condition keys only: the Service Authorization Reference lists
 * `aws:ResourceTag/${TagKey}` for the `instance` resource of AssociateAddress and ModifyInstanceAttribute.
 * IAM documents no key for "the instance acted on is the caller" (`aws:ARN` is not one; a statement whose
 * key IAM does not evaluate never matches, and no node could claim its address), so any instance of the
 * fleet in this network qualifies, not only the caller itself (the trade-off: docs/egress.md, "In AWS").
 */
export function grantAssociateOwnAddress(role: Role, grant: OwnAddressGrant): void {
  const stack = Stack.of(role);
  role.addToPolicy(
    new PolicyStatement({
      actions: ['ec2:AssociateAddress'],
      resources: grant.addresses.map((eip) => stack.formatArn({ service: 'ec2', resource: 'elastic-ip', resourceName: eip.attrAllocationId })),
    }),
  );
  const instanceActions = ['ec2:AssociateAddress', ...(grant.instanceActions ?? [])];
  role.addToPolicy(
    new PolicyStatement({
      actions: instanceActions,
      resources: [stack.formatArn({ service: 'ec2', resource: 'instance', resourceName: '*' })],
      conditions: { StringEquals: { [`aws:ResourceTag/${FLEET_TAGS.role}`]: grant.fleetRole, [`aws:ResourceTag/${FLEET_TAGS.network}`]: grant.network } },
    }),
  );
  const env = nagEnvironment(role);
  Validations.of(role).acknowledge({
    id: `AwsSolutions-IAM5[Resource::arn:${env.partition}:ec2:${env.region}:${env.account}:instance/*]`,
    reason: `Instance ids are not known in advance; the tag conditions limit ${instanceActions.join(' and ')} to this network's ${grant.fleetRole} instances.`,
  });
}
