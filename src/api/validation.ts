import { en } from 'zod/locales';
import * as z from 'zod/mini';
import { MeshError } from '../mesh/errors';
import { ROLES } from '../mesh/roles';
import { MAX_ACCESS_TOKEN_TTL_SECONDS } from '../mesh/access-token';
import { ACCESS_LEVELS, UPSTREAM_PROTOCOLS } from '../mesh/routes';
import { ROUTES_VERSION_PATTERN } from './route-table';
import { ApiProblem, type FieldError, validationProblem } from './problem';

/** zod/mini ships no messages; these are the ones classic zod gives (its English locale). */
const ENGLISH = { error: en().localeError };

/** Host names: what a person would type, safe in certificates, YAML and logs. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$/;

/**
 * Principals (hosts' owners, access tokens' holders): identifiers from an identity provider, such
 * as `alice@example.com` or `github:alice`, in a charset that is safe in JSON, logs and headers.
 */
const SUBJECT = /^[A-Za-z0-9][A-Za-z0-9._@+:-]{0,127}$/;
const ORGANIZATION = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export const principalFields = {
  subject: z.string().check(z.regex(SUBJECT, 'must be 1-128 characters a-z, A-Z, 0-9, ., _, @, +, : or -, starting with a letter or digit')),
  organization: z.string().check(z.regex(ORGANIZATION, 'must be 1-64 characters a-z, A-Z, 0-9, ., _ or -, starting with a letter or digit')),
};

export const createHostBody = z.strictObject({
  name: z.string().check(z.regex(HOST_NAME, 'must be 1-63 characters a-z, A-Z, 0-9, ., _ or -, starting with a letter or digit')),
  role: z.enum(ROLES),
  groups: z.optional(z.array(z.string()).check(z.maxLength(64))),
  ip: z.optional(z.string().check(z.maxLength(64))),
  endpoints: z.optional(z.array(z.string().check(z.maxLength(300))).check(z.maxLength(16))),
  owner: z.optional(z.strictObject(principalFields)),
});

/** `PATCH /v1/hosts/{id}`: what may change after creation (today the owner). */
export const updateHostBody = z.strictObject({
  owner: z.strictObject(principalFields),
});

export const portBody = z.strictObject({
  access: z.enum(ACCESS_LEVELS),
  protocol: z.optional(z.enum(UPSTREAM_PROTOCOLS)),
});

/** The `{port}` of `/v1/hosts/{id}/ports/{port}`: a decimal TCP port, no sign, no leading zero. */
export const portParam = z.pipe(
  z.pipe(z.string().check(z.regex(/^[1-9][0-9]{0,4}$/, 'must be a TCP port from 1 to 65535')), z.transform(Number)),
  z.number().check(z.maximum(65535, 'must be a TCP port from 1 to 65535')),
);

export const accessTokenBody = z.strictObject({
  ...principalFields,
  ttlSeconds: z.optional(z.number().check(z.int(), z.minimum(60), z.maximum(MAX_ACCESS_TOKEN_TTL_SECONDS))),
});

export const routesQuery = z.object({
  wait: z.optional(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(60))),
  /** With a host credential: the proxy host it belongs to. */
  host: z.optional(z.string().check(z.maxLength(64))),
  /** A route table version the proxy holds: answer the changes since (route-table.ts). */
  since: z.optional(z.string().check(z.regex(ROUTES_VERSION_PATTERN, 'must be a route table version this API returned'))),
});

export const enrollBody = z.strictObject({
  token: z.string().check(z.minLength(1), z.maxLength(256)),
  publicKey: z.string().check(z.minLength(1), z.maxLength(4096)),
});

export const renewBody = z.strictObject({
  publicKey: z.optional(z.string().check(z.minLength(1), z.maxLength(4096))),
});

/** The roles of the fleets whose instances register themselves (`POST /v1/nodes/register`). */
export const NODE_ROLES = ['lighthouse', 'proxy', 'egress'] as const;

export const registerBody = z.strictObject({
  role: z.enum(NODE_ROLES),
  publicKey: z.string().check(z.minLength(1), z.maxLength(4096)),
  /** Only with the admin token (local testing); behind API Gateway the IAM session name is the instance id. */
  instanceId: z.optional(z.string().check(z.regex(/^i-[0-9a-f]{8,17}$/, 'must be an EC2 instance id such as i-0123456789abcdef0'))),
  /** The lighthouse's UDP port. */
  listenPort: z.optional(z.number().check(z.int(), z.minimum(1), z.maximum(65535))),
});

export const listHostsQuery = z.object({
  role: z.optional(z.enum(ROLES)),
  cursor: z.optional(z.string().check(z.maxLength(2048))),
  limit: z.optional(z.coerce.number().check(z.int(), z.minimum(1), z.maximum(1000))),
});

export const configQuery = z.object({
  wait: z.optional(z.coerce.number().check(z.int(), z.minimum(0), z.maximum(60))),
});

/** Parses a JSON body into `schema`, or throws a 400 problem naming each failing field. */
export function parseJsonBody<S extends z.ZodMiniType>(body: Buffer, schema: S, options: { emptyIsObject?: boolean } = {}): z.infer<S> {
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
export function parsePathParam<S extends z.ZodMiniType>(value: string, schema: S, name: string): z.infer<S> {
  return parseWith(schema, value, name);
}

/** Validates query parameters, naming each failing parameter. */
export function parseQuery<S extends z.ZodMiniType>(query: Readonly<Record<string, string | undefined>>, schema: S): z.infer<S> {
  return parseWith(schema, query, 'query');
}

function parseWith<S extends z.ZodMiniType>(schema: S, value: unknown, root: string): z.infer<S> {
  const result = z.safeParse(schema, value, ENGLISH);
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
