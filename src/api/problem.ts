import type { ApiResponse } from './http';

/** One failing input: `field` is a JSON path into the body (`groups[1]`), a query parameter or a header. */
export interface FieldError {
  readonly field: string;
  readonly message: string;
}

/** RFC 9457 problem details, as the API returns them. */
export interface ProblemDetails {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  readonly errors?: readonly FieldError[];
}

const TYPE_BASE = 'urn:nebula-gateway:problem:';

/**
 * A request the API refuses, with the status and the problem document to send. Route handlers
 * throw it; the dispatcher turns it into an `application/problem+json` response.
 */
export class ApiProblem extends Error {
  override readonly name = 'ApiProblem';

  constructor(
    readonly status: number,
    readonly slug: string,
    readonly title: string,
    detail: string,
    readonly errors?: readonly FieldError[],
    readonly headers: Readonly<Record<string, string>> = {},
  ) {
    super(detail);
  }

  toDetails(): ProblemDetails {
    return {
      type: `${TYPE_BASE}${this.slug}`,
      title: this.title,
      status: this.status,
      detail: this.message,
      ...(this.errors && this.errors.length > 0 ? { errors: this.errors } : {}),
    };
  }
}

/** 400 for input that fails validation, naming every failing field. */
export function validationProblem(errors: readonly FieldError[]): ApiProblem {
  const detail = errors.map((e) => `${e.field}: ${e.message}`).join('; ');
  return new ApiProblem(400, 'validation', 'Invalid request', detail, errors);
}

/** 401 with a `WWW-Authenticate` challenge; `field` is what was missing or wrong. */
export function unauthorized(detail: string, field = 'authorization'): ApiProblem {
  return new ApiProblem(401, 'unauthorized', 'Not authenticated', detail, [{ field, message: detail }], {
    'www-authenticate': 'Bearer',
  });
}

export function notFound(detail: string): ApiProblem {
  return new ApiProblem(404, 'not-found', 'Not found', detail);
}

export function conflict(slug: string, detail: string, field?: string): ApiProblem {
  return new ApiProblem(409, slug, 'Conflict', detail, field ? [{ field, message: detail }] : undefined);
}

export function problemResponse(problem: ApiProblem): ApiResponse {
  return {
    status: problem.status,
    headers: { 'content-type': 'application/problem+json', 'cache-control': 'no-store', ...problem.headers },
    body: JSON.stringify(problem.toDetails()),
  };
}

export function jsonResponse(status: number, body: unknown, headers: Record<string, string> = {}): ApiResponse {
  return {
    status,
    headers: { 'content-type': 'application/json', 'cache-control': 'no-store', ...headers },
    body: JSON.stringify(body),
  };
}
