import { MeshError } from './errors';
import { printable } from './ipv4';

/**
 * Every host has exactly one role; it is also the first group of the host's certificate. An
 * `egress` node carries environments' outbound traffic to the network's egress routes (its
 * certificate carries them as `subnets`) and enforces the organisations' egress policies.
 */
export const ROLES = ['environment', 'lighthouse', 'proxy', 'egress'] as const;
export type Role = (typeof ROLES)[number];

/** Lowercase letters, digits, `-` and `_`, starting with a letter or digit: safe in YAML, DNS-ish names and logs. */
const GROUP_NAME = /^[a-z0-9][a-z0-9_-]*$/;
export const MAX_GROUP_NAME_LENGTH = 63;
export const MAX_FREE_GROUPS = 32;

export function isRole(value: unknown): value is Role {
  return typeof value === 'string' && (ROLES as readonly string[]).includes(value);
}

export function parseRole(value: unknown, field = 'role'): Role {
  if (isRole(value)) return value;
  const shown = typeof value === 'string' ? `'${printable(value)}'` : typeof value;
  throw new MeshError(field, `${shown} is not a role (expected one of ${ROLES.join(', ')})`);
}

/** Validates one free group name; `field` is where it came from, e.g. `groups[1]`. */
export function parseGroupName(value: unknown, field = 'group'): string {
  if (typeof value !== 'string') throw new MeshError(field, 'must be a string');
  if (value.length === 0) throw new MeshError(field, 'must not be empty');
  if (value.length > MAX_GROUP_NAME_LENGTH) {
    throw new MeshError(field, `is ${value.length} characters long (at most ${MAX_GROUP_NAME_LENGTH})`);
  }
  if (!GROUP_NAME.test(value)) {
    throw new MeshError(field, `'${printable(value)}' may hold only a-z, 0-9, '-' and '_', and must start with a letter or digit`);
  }
  if (isRole(value)) {
    throw new MeshError(field, `'${value}' is a role name; roles are given by the host's role, not as a group`);
  }
  return value;
}

/**
 * A host's certificate groups: its role first, then its free groups in the order given, without
 * duplicates. The firewall matches on these names, so a free group can never pose as a role.
 */
export function certificateGroups(role: Role, groups: readonly unknown[] = [], field = 'groups'): string[] {
  parseRole(role);
  if (!Array.isArray(groups)) throw new MeshError(field, 'must be a list of group names');
  if (groups.length > MAX_FREE_GROUPS) {
    throw new MeshError(field, `has ${groups.length} groups (at most ${MAX_FREE_GROUPS})`);
  }
  const names = groups.map((group, i) => parseGroupName(group, `${field}[${i}]`));
  return [role, ...new Set(names)];
}
