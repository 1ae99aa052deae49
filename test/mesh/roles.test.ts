import { MAX_FREE_GROUPS, ROLES, certificateGroups, isRole, parseGroupName, parseRole } from '../../src/mesh';
import { meshError } from './mesh-error';

describe('roles', () => {
  it('are the four certificate roles', () => {
    expect(ROLES).toEqual(['environment', 'lighthouse', 'proxy', 'egress']);
    expect(ROLES.every(isRole)).toBe(true);
    expect(isRole('Proxy')).toBe(false);
    expect(isRole(undefined)).toBe(false);
  });

  it('parseRole names the field and the accepted roles', () => {
    expect(parseRole('proxy')).toBe('proxy');
    const error = meshError(() => parseRole('admin', 'role'));
    expect(error.field).toBe('role');
    expect(error.message).toBe("role: 'admin' is not a role (expected one of environment, lighthouse, proxy, egress)");
    expect(meshError(() => parseRole(3)).message).toMatch(/number is not a role/);
  });
});

describe('certificateGroups', () => {
  it('puts the role first, keeps free groups in order and drops duplicates', () => {
    expect(certificateGroups('environment')).toEqual(['environment']);
    expect(certificateGroups('environment', ['team-a', 'gpu_1', 'team-a', '9lives'])).toEqual(['environment', 'team-a', 'gpu_1', '9lives']);
  });

  it.each([
    [['lighthouse'], 'groups[0]', /'lighthouse' is a role name/],
    [['ok', 'proxy'], 'groups[1]', /'proxy' is a role name/],
    [['ok', ''], 'groups[1]', /must not be empty/],
    [['Team'], 'groups[0]', /may hold only a-z, 0-9, '-' and '_'/],
    [['-team'], 'groups[0]', /must start with a letter or digit/],
    [['team a'], 'groups[0]', /may hold only/],
    [['team,a'], 'groups[0]', /may hold only/],
    [['tëam'], 'groups[0]', /may hold only/],
    [['a'.repeat(64)], 'groups[0]', /is 64 characters long \(at most 63\)/],
    [[7], 'groups[0]', /must be a string/],
  ])('rejects %j naming %s', (groups, field, message) => {
    const error = meshError(() => certificateGroups('environment', groups));
    expect(error.field).toBe(field);
    expect(error.message).toMatch(message);
  });

  it('accepts a 63-character name and at most MAX_FREE_GROUPS groups', () => {
    expect(parseGroupName('a'.repeat(63))).toHaveLength(63);
    const many = Array.from({ length: MAX_FREE_GROUPS + 1 }, (_, i) => `g${i}`);
    expect(certificateGroups('proxy', many.slice(0, MAX_FREE_GROUPS))).toHaveLength(MAX_FREE_GROUPS + 1);
    expect(meshError(() => certificateGroups('proxy', many)).field).toBe('groups');
  });

  it('rejects a bad role and a non-list', () => {
    expect(meshError(() => certificateGroups('admin' as never, [])).field).toBe('role');
    expect(meshError(() => certificateGroups('proxy', 'team-a' as never)).message).toMatch(/must be a list/);
  });
});
