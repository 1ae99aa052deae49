/**
 * Evaluates the intrinsics CDK puts into strings (Fn::Join, Fn::Base64, Fn::Sub without a
 * variable map, Ref, Fn::GetAtt) the way CloudFormation would at deploy, given values for
 * the references: to read the user data an instance gets, and to see what changes when a
 * parameter's value does. An unknown reference becomes a shell-safe placeholder naming it.
 */
export function resolveIntrinsics(value: unknown, refs: Readonly<Record<string, string>> = {}): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (typeof value !== 'object' || value === null) throw new Error(`cannot resolve ${JSON.stringify(value)}`);
  const [key, arg] = Object.entries(value)[0] ?? [];
  switch (key) {
    case 'Fn::Base64':
      return resolveIntrinsics(arg, refs);
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown[]];
      return parts.map((part) => resolveIntrinsics(part, refs)).join(separator);
    }
    case 'Fn::Sub': {
      if (typeof arg !== 'string') throw new Error('cannot resolve Fn::Sub with a variable map');
      return arg.replace(/\$\{([^}]+)\}/g, (_, name: string) => resolveIntrinsics(name.includes('.') ? { 'Fn::GetAtt': name.split('.') } : { Ref: name }, refs));
    }
    case 'Ref':
      return refs[arg as string] ?? `ref-${String(arg).replace(/[^A-Za-z0-9]/g, '-')}`;
    case 'Fn::GetAtt': {
      const [id, attribute] = arg as [string, string];
      return refs[`${id}.${attribute}`] ?? `getatt-${id}-${attribute}`.replace(/[^A-Za-z0-9-]/g, '-');
    }
    default:
      throw new Error(`cannot resolve intrinsic ${key}`);
  }
}
