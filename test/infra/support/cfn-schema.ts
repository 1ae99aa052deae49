import { loadAwsServiceSpecSync } from '@aws-cdk/aws-service-spec';
import type { PropertyType, Resource, SpecDatabase, TypeDefinition } from '@aws-cdk/service-spec-types';

/**
 * Checks CloudFormation templates against the resource schemas of the CloudFormation registry as
 * `@aws-cdk/aws-service-spec` carries them: every resource type exists, no unknown property, every
 * required property present, every value of its property's type (recursively through the
 * property types), allowed values where the schema lists them. Intrinsic functions stand for
 * values known at deploy and are accepted wherever a value is. Custom resources have no schema.
 */
export interface SchemaProblem {
  readonly stack: string;
  readonly resource: string;
  readonly path: string;
  readonly problem: string;
}

const RESOURCE_KEYS = new Set(['Type', 'Properties', 'DependsOn', 'Metadata', 'DeletionPolicy', 'UpdateReplacePolicy', 'CreationPolicy', 'UpdatePolicy', 'Condition']);
const DELETION_POLICIES = new Set(['Delete', 'Retain', 'RetainExceptOnCreate', 'Snapshot']);

let cached: SpecDatabase | undefined;
function database(): SpecDatabase {
  cached ??= loadAwsServiceSpecSync();
  return cached;
}

function isIntrinsic(value: unknown): boolean {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const keys = Object.keys(value);
  return keys.length === 1 && (keys[0] === 'Ref' || keys[0].startsWith('Fn::') || keys[0] === 'Condition');
}

export function validateTemplate(stack: string, template: { Resources?: Record<string, Record<string, unknown>> }): SchemaProblem[] {
  const db = database();
  const problems: SchemaProblem[] = [];
  for (const [id, resource] of Object.entries(template.Resources ?? {})) {
    const report = (path: string, problem: string) => problems.push({ stack, resource: id, path, problem });
    for (const key of Object.keys(resource)) if (!RESOURCE_KEYS.has(key)) report(key, 'not a resource attribute');
    for (const key of ['DeletionPolicy', 'UpdateReplacePolicy']) {
      if (resource[key] !== undefined && !DELETION_POLICIES.has(resource[key] as string)) report(key, `not a policy: ${String(resource[key])}`);
    }
    const type = resource.Type as string;
    if (type.startsWith('Custom::') || type === 'AWS::CloudFormation::CustomResource') continue;
    const found = db.lookup('resource', 'cloudFormationType', 'equals', type);
    if (found.length === 0) {
      report('Type', `no such resource type in the registry: ${type}`);
      continue;
    }
    const spec: Resource = found[0];
    checkObject(db, spec.properties, resource.Properties ?? {}, 'Properties', report);
  }
  return problems;
}

function checkObject(
  db: SpecDatabase,
  properties: Resource['properties'],
  value: unknown,
  path: string,
  report: (path: string, problem: string) => void,
): void {
  if (isIntrinsic(value)) return;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    report(path, `expected an object, got ${JSON.stringify(value)}`);
    return;
  }
  const given = value as Record<string, unknown>;
  for (const [name, property] of Object.entries(properties)) {
    if (property.required && !(name in given)) report(`${path}.${name}`, 'required property missing');
  }
  for (const [name, item] of Object.entries(given)) {
    const property = properties[name];
    if (!property) {
      report(`${path}.${name}`, 'unknown property');
      continue;
    }
    const types = [property.type, ...(property.previousTypes ?? [])];
    checkAny(db, types, item, `${path}.${name}`, report);
  }
}

/** The value must match one of `types` (a property's current type or, for compatibility, an earlier one). */
function checkAny(db: SpecDatabase, types: readonly PropertyType[], value: unknown, path: string, report: (path: string, problem: string) => void): void {
  const attempts = types.map((type) => {
    const found: [string, string][] = [];
    checkType(db, type, value, path, (p, problem) => found.push([p, problem]));
    return found;
  });
  const best = attempts.find((a) => a.length === 0) ?? attempts.sort((a, b) => a.length - b.length)[0];
  for (const [p, problem] of best) report(p, problem);
}

function checkType(db: SpecDatabase, type: PropertyType, value: unknown, path: string, report: (path: string, problem: string) => void): void {
  if (isIntrinsic(value)) return;
  const wrong = (what: string) => report(path, `expected ${what}, got ${JSON.stringify(value)?.slice(0, 80)}`);
  switch (type.type) {
    case 'string':
    case 'date-time':
      // CloudFormation passes scalars to string properties as their text.
      if (!['string', 'number', 'boolean'].includes(typeof value)) wrong('a string');
      else if (type.type === 'string' && type.allowedValues && !type.allowedValues.includes(String(value))) wrong(`one of ${type.allowedValues.join(', ')}`);
      return;
    case 'integer':
    case 'number':
      if (typeof value === 'number' ? type.type === 'integer' && !Number.isInteger(value) : !(typeof value === 'string' && /^-?\d+(\.\d+)?$/.test(value))) {
        wrong(`a${type.type === 'integer' ? 'n integer' : ' number'}`);
      }
      return;
    case 'boolean':
      if (typeof value !== 'boolean' && value !== 'true' && value !== 'false') wrong('a boolean');
      return;
    case 'json':
      if (typeof value !== 'object' && typeof value !== 'string') wrong('a JSON object');
      return;
    case 'null':
      if (value !== null) wrong('null');
      return;
    case 'tag':
      checkObject(db, { Key: { type: { type: 'string' }, required: true }, Value: { type: { type: 'string' }, required: true } }, value, path, report);
      return;
    case 'array':
      if (!Array.isArray(value)) return wrong('a list');
      value.forEach((element, i) => checkType(db, type.element, element, `${path}[${i}]`, report));
      return;
    case 'map':
      if (typeof value !== 'object' || value === null || Array.isArray(value)) return wrong('a map');
      for (const [key, element] of Object.entries(value)) checkType(db, type.element, element, `${path}.${key}`, report);
      return;
    case 'union':
      checkAny(db, type.types, value, path, report);
      return;
    case 'ref': {
      const definition: TypeDefinition = db.get('typeDefinition', type.reference);
      checkObject(db, definition.properties, value, path, report);
      return;
    }
  }
}
