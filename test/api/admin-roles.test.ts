import { AdminRoleConfigError, isAdminPrincipal, parseAdminRoleArns } from '../../src/api/admin-roles';

const ACCOUNT = '111122223333';
const OTHER = '444455556666';
const configured = parseAdminRoleArns(
  [
    `arn:aws:iam::${ACCOUNT}:role/PlatformAdmin`,
    ` arn:aws:iam::${ACCOUNT}:role/team/platform/Ops `,
    `arn:aws-us-gov:iam::${ACCOUNT}:role/GovAdmin`,
    `arn:aws-cn:iam::${ACCOUNT}:role/cn/CnAdmin`,
  ].join(','),
  'GATEWAY_ADMIN_ROLE_ARNS',
);

describe('isAdminPrincipal: who API Gateway authenticated vs the configured admin roles', () => {
  const cases: [string, string, boolean][] = [
    ['a session of a configured role', `arn:aws:sts::${ACCOUNT}:assumed-role/PlatformAdmin/alice`, true],
    ['a session whose name looks like an email', `arn:aws:sts::${ACCOUNT}:assumed-role/PlatformAdmin/alice@example.com`, true],
    ['a session of a role configured with a path (the session ARN drops the path)', `arn:aws:sts::${ACCOUNT}:assumed-role/Ops/bob`, true],
    ['the configured role ARN itself', `arn:aws:iam::${ACCOUNT}:role/team/platform/Ops`, true],
    ['a GovCloud session of a GovCloud role', `arn:aws-us-gov:sts::${ACCOUNT}:assumed-role/GovAdmin/carol`, true],
    ['a China session of a China role with a path', `arn:aws-cn:sts::${ACCOUNT}:assumed-role/CnAdmin/dan`, true],
    ['a session of another role', `arn:aws:sts::${ACCOUNT}:assumed-role/Developer/alice`, false],
    ['a session of a role whose name extends an admin role name', `arn:aws:sts::${ACCOUNT}:assumed-role/PlatformAdmin2/alice`, false],
    ['a session of a role whose name is a prefix of an admin role name', `arn:aws:sts::${ACCOUNT}:assumed-role/Platform/alice`, false],
    ['a role name differing only in case', `arn:aws:sts::${ACCOUNT}:assumed-role/platformadmin/alice`, false],
    ['the same role name in another account', `arn:aws:sts::${OTHER}:assumed-role/PlatformAdmin/alice`, false],
    ['the same role name in another partition', `arn:aws-cn:sts::${ACCOUNT}:assumed-role/PlatformAdmin/alice`, false],
    ['a GovCloud role name in the commercial partition', `arn:aws:sts::${ACCOUNT}:assumed-role/GovAdmin/carol`, false],
    ['the role ARN without its path', `arn:aws:iam::${ACCOUNT}:role/Ops`, false],
    ['the role ARN with another path', `arn:aws:iam::${ACCOUNT}:role/other/Ops`, false],
    ['an IAM user named like the role', `arn:aws:iam::${ACCOUNT}:user/PlatformAdmin`, false],
    ['a federated user named like the role', `arn:aws:sts::${ACCOUNT}:federated-user/PlatformAdmin`, false],
    ['the account root', `arn:aws:iam::${ACCOUNT}:root`, false],
    ['a session ARN with an extra path segment', `arn:aws:sts::${ACCOUNT}:assumed-role/x/PlatformAdmin/alice`, false],
    ['a session ARN with text after it', `arn:aws:sts::${ACCOUNT}:assumed-role/PlatformAdmin/alice/extra`, false],
    ['an empty ARN', '', false],
  ];
  test.each(cases)('%s', (_what, arn, admin) => {
    expect(isAdminPrincipal(arn, configured)).toBe(admin);
  });

  test('no configured roles (unset or empty setting): nobody is admin', () => {
    for (const text of [undefined, '', ' , ']) {
      const roles = parseAdminRoleArns(text, 'GATEWAY_ADMIN_ROLE_ARNS');
      expect(roles).toEqual([]);
      expect(isAdminPrincipal(`arn:aws:sts::${ACCOUNT}:assumed-role/PlatformAdmin/alice`, roles)).toBe(false);
    }
  });
});

describe('parseAdminRoleArns', () => {
  test('reads partition, account and the name without the path', () => {
    expect(configured.map(({ partition, account, name }) => ({ partition, account, name }))).toEqual([
      { partition: 'aws', account: ACCOUNT, name: 'PlatformAdmin' },
      { partition: 'aws', account: ACCOUNT, name: 'Ops' },
      { partition: 'aws-us-gov', account: ACCOUNT, name: 'GovAdmin' },
      { partition: 'aws-cn', account: ACCOUNT, name: 'CnAdmin' },
    ]);
    expect(configured[1].arn).toBe(`arn:aws:iam::${ACCOUNT}:role/team/platform/Ops`);
  });

  const refused: [string, string][] = [
    ['a wildcard role', `arn:aws:iam::${ACCOUNT}:role/*`],
    ['a wildcard in the name', `arn:aws:iam::${ACCOUNT}:role/Platform*`],
    ['a session ARN', `arn:aws:sts::${ACCOUNT}:assumed-role/PlatformAdmin/alice`],
    ['a user ARN', `arn:aws:iam::${ACCOUNT}:user/alice`],
    ['a bare role name', 'PlatformAdmin'],
    ['a short account id', 'arn:aws:iam::1111:role/PlatformAdmin'],
    ['a role name over 64 characters', `arn:aws:iam::${ACCOUNT}:role/${'a'.repeat(65)}`],
    ['an unknown partition spelling', `arn:amazon:iam::${ACCOUNT}:role/PlatformAdmin`],
    ['an empty path segment', `arn:aws:iam::${ACCOUNT}:role//PlatformAdmin`],
  ];
  test.each(refused)('refuses %s, naming the setting and the entry', (_what, arn) => {
    const parse = () => parseAdminRoleArns(`arn:aws:iam::${ACCOUNT}:role/Fine,${arn}`, 'GATEWAY_ADMIN_ROLE_ARNS');
    expect(parse).toThrow(AdminRoleConfigError);
    expect(parse).toThrow(`GATEWAY_ADMIN_ROLE_ARNS: '${arn}' is not an IAM role ARN`);
  });
});
