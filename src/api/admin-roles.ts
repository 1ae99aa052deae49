/**
 * The IAM roles whose callers are the gateway's admins, and who matches them. Pure: parsing and
 * matching only; the Lambda runtime reads the list from its environment once per cold start.
 */

/** One admin role, from its ARN `arn:<partition>:iam::<account>:role/<path/><name>`. */
export interface AdminRole {
  readonly arn: string;
  readonly partition: string;
  readonly account: string;
  /** The role name without its path: an assumed-role session's ARN carries only this. */
  readonly name: string;
}

/** A configured admin role ARN that is not one; the message names the entry and the setting. */
export class AdminRoleConfigError extends Error {
  override readonly name = 'AdminRoleConfigError';
}

// Partitions: aws, aws-cn, aws-us-gov, aws-iso, aws-iso-b, ...; role and session names per IAM's own limits.
const PARTITION = 'aws(?:-[a-z]+)*';
const NAME = '[\\w+=,.@-]{1,64}';
const ROLE_ARN = new RegExp(`^arn:(${PARTITION}):iam::(\\d{12}):role/((?:[\\x21-\\x2e\\x30-\\x7e]+/)*)(${NAME})$`);
const SESSION_ARN = new RegExp(`^arn:(${PARTITION}):sts::(\\d{12}):assumed-role/(${NAME})/[\\w+=,.@-]{2,64}$`);

/**
 * A comma-separated list of IAM role ARNs (blanks around entries ignored; empty or unset: none).
 * `setting` names where the list came from, for the error. Wildcards, users, sessions and anything
 * else that is not a role ARN are refused rather than skipped: a typo must not silently shrink
 * (or, with a wildcard, widen) who is an admin.
 */
export function parseAdminRoleArns(text: string | undefined, setting: string): AdminRole[] {
  const entries = (text ?? '').split(',').map((e) => e.trim()).filter((e) => e !== '');
  return entries.map((arn) => {
    const match = ROLE_ARN.exec(arn);
    if (!match) {
      throw new AdminRoleConfigError(`${setting}: '${arn}' is not an IAM role ARN (arn:<partition>:iam::<account>:role/[path/]<name>)`);
    }
    return { arn, partition: match[1], account: match[2], name: match[4] };
  });
}

/**
 * Whether the caller API Gateway authenticated (its ARN) is one of `roles`: a session of the role
 * (`arn:<partition>:sts::<account>:assumed-role/<name>/<session>`, which drops the role's path; a
 * role name is unique in its account whatever the path, so partition, account and name identify it),
 * or the role's own ARN. Role names compare exactly, as the ARNs spell them. Users, federated users
 * and root are never admins.
 */
export function isAdminPrincipal(callerArn: string, roles: readonly AdminRole[]): boolean {
  const session = SESSION_ARN.exec(callerArn);
  if (session) {
    const [, partition, account, name] = session;
    return roles.some((r) => r.partition === partition && r.account === account && r.name === name);
  }
  return roles.some((r) => r.arn === callerArn);
}
