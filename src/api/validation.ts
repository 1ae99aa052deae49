import * as z from 'zod';
import { MeshError, ROLES } from '../mesh';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../mesh/access-token';
import { ACCESS_LEVELS, UPSTREAM_PROTOCOLS } from '../mesh/routes';
import { ApiProblem, type FieldError, validationProblem } from './problem';

/** Host names: what a person would type, safe in certificates, YAML and logs. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Principals (hosts' owners, access tokens' holders): identifiers from an identity provider, such
 * as `alice@example.com` or `github:alice`, in a charset that is safe in JSON, logs and headers.
 */
const SUBJECT = /^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$/;
const ORGANIZATION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const principalFields = {
  subject: z.string().regex(SUBJECT, 'must be 1-128 characters a-z, A-Z, 0-9, ., _, @, +, : or -, starting with a letter or digit'),
  organization: z.string().regex(ORGANIZATION, 'must be 1-64 characters a-z, A-Z, 0-9, ., _ or -, starting with a letter or digit'),
};

export const createHostBody = z.strictObject({
  name: z.string().regex(HOST_NAME, 'must be 1-63 characters a-z, A-Z, 0-9, ., _ or -, starting with a letter or digit'),
  role: z.enum(ROLES),
  groups: z.array(z.string()).max(64).optional(),
  ip: z.string().max(64).optional(),
  endpoints: z.array(z.string().max(300)).max(16).optional(),
  owner: z.strictObject(principalFields).optional(),
});

export const portBody = z.strictObject({
  access: z.enum(ACCESS_LEVELS),
  protocol: z.enum(UPSTREAM_PROTOCOLS).optional(),
});

/** The `{port}` of `/v1/hosts/{id}/ports/{port}`: a decimal TCP port, no sign, no leading zero. */
export const portParam = z.string().regex(/^[1-9][0-9]{0,4}$/, 'must be a TCP port from 1 to 65535').transform(Number).pipe(
  z.number().max(65535, 'must be a TCP port from 1 to 65535'),
);

export const accessTokenBody = z.strictObject({
  ...principalFields,
  ttlSeconds: z.number().int().min(60).max(MAX_ACCESS_TOKEN_TTL_SECONDS).optional(),
});

export const routesQuery = z.object({
  wait: z.coerce.number().int().min(0).max(60).optional(),
  /** With a host credential: the proxy host it belongs to. */
  host: z.string().max(64).optional(),
});

export const enrollBody = z.strictObject({
  token: z.string().min(1).max(256),
  publicKey: z.string().min(1).max(4096),
});

export const renewBody = z.strictObject({
  publicKey: z.string().min(1).max(4096).optional(),
});

export const registerBody = z.strictObject({
  role: z.enum(['lighthouse', 'proxy']),
  publicKey: z.string().min(1).max(4096),
  /** Only with the admin token (local testing); behind API Gateway the IAM session name is the instance id. */
  instanceId: z.string().regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id such as i-0123456789abcdef0').optional(),
  /** The lighthouse's UDP port. */
  listenPort: z.number().int().min(1).max(65535).optional(),
});

export const listHostsQuery = z.object({
  role: z.enum(ROLES).optional(),
  cursor: z.string().max(2048).optional(),
  limit: z.coerce.number().int().min(1).max(1000).optional(),
});

export const configQuery = z.object({
  wait: z.coerce.number().int().min(0).max(60).optional(),
});

/** Parses a JSON body into `schema`, or throws a 400 problem naming each failing field. */
export function parseJsonBody<S extends z.ZodType>(body: Buffer, schema: S, options: { emptyIsObject?: boolean } = {}): z.infer<S> {
  const text = body.toString('utf8');
  let value: unknown;
  if (text.trim() === '' && options.emptyIsObject) {
    value = {};
  } else {
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new ApiProblem(400, 'invalid-json', 'Malformed JSON', `the request body is not valid JSON: ${(err as Error).message}`, [
        { field: 'body', message: 'not valid JSON' },
      ]);
    }
  }
  return parseWith(schema, value, 'body');
}

/** Validates one path parameter, naming it. */
export function parsePathParam<S extends z.ZodType>(value: string, schema: S, name: string): z.infer<S> {
  return parseWith(schema, value, name);
}

/** Validates query parameters, naming each failing parameter. */
export function parseQuery<S extends z.ZodType>(query: Readonly<Record<string, string | undefined>>, schema: S): z.infer<S> {
  return parseWith(schema, query, 'query');
}

function parseWith<S extends z.ZodType>(schema: S, value: unknown, root: string): z.infer<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw validationProblem(result.error.issues.flatMap((issue) => fieldErrors(issue, root)));
}

function fieldErrors(issue: z.core.$ZodIssue, root: string): FieldError[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ field: fieldPath([...issue.path, key], root), message: 'is not a known field' }));
  }
  return [{ field: fieldPath(issue.path, root), message: issue.message }];
}

/** `['groups', 1]` → `groups[1]`; the root itself when the path is empty. */
export function fieldPath(path: readonly PropertyKey[], root: string): string {
  if (path.length === 0) return root;
  return path
    .map((part, i) => (typeof part === 'number' ? `[${part}]` : i === 0 ? String(part) : `.${String(part)}`))
    .join('');
}

/** Runs a mesh validator, turning its MeshError into a 400 problem for the same field. */
export function meshField<T>(validate: () => T): T {
  try {
    return validate();
  } catch (err) {
    if (err instanceof MeshError) {
      throw validationProblem([{ field: err.field, message: err.message.replace(`${err.field}: `, '') }]);
    }
    throw err;
  }
}
