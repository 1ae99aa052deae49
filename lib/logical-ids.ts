import { createHash } from 'node:crypto';
import { CfnElement } from 'aws-cdk-lib/core';
import type { IConstruct } from 'constructs';

/**
 * The logical ID CDK gives the resource at `path` (stack-relative construct path, e.g.
 * `LighthouseRecord1/Resource`): CDK's own rule (`Default` dropped, `Resource` kept in the hash only).
 */
export function logicalIdAt(path: string): string {
  const components = path.split('/').filter((c) => c !== 'Default');
  const alnum = (s: string) => s.replace(/[^A-Za-z0-9]/g, '');
  if (components.length === 1) return alnum(components[0]);
  const hash = createHash('md5').update(components.join('/')).digest('hex').slice(0, 8).toUpperCase();
  const human = components.filter((c, i) => i === 0 || !components[i - 1].endsWith(c));
  return human.filter((c) => c !== 'Resource').map(alnum).join('').slice(0, 240) + hash;
}

/**
 * Keeps the CloudFormation resource of `construct` (or `construct` itself, if it is one) under the
 * logical ID it had at `formerPath` before it moved into a construct: a named resource (DNS record,
 * Cloud Map name) under a new logical ID would be created next to its old self and collide with it.
 */
export function keepLogicalId(construct: IConstruct, formerPath: string): void {
  const resource = construct instanceof CfnElement ? construct : construct.node.defaultChild;
  if (!(resource instanceof CfnElement)) throw new Error(`${construct.node.path} has no CloudFormation resource to keep the logical ID of`);
  resource.overrideLogicalId(logicalIdAt(formerPath));
}
