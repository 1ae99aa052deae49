/**
 * API Gateway's own error responses (refused before any function runs: bad signature, throttled,
 * access denied by the resource policy, integration timeout...) as RFC 9457 problems, like the
 * API's: `application/problem+json`, `type` in the API's namespace, API Gateway's message as
 * `detail`. Pure data; GatewayApi turns each entry into a GatewayResponse.
 */

/** The API's problem type namespace (src/api/problem.ts; test/infra checks they agree). */
export const PROBLEM_TYPE_BASE = 'urn:nebula-gateway:problem:';

export interface ProblemResponseSpec {
  /** API Gateway's response type, e.g. `ACCESS_DENIED`. */
  readonly responseType: string;
  /** The status API Gateway answers with; absent for the defaults, whose status varies. */
  readonly status?: number;
  readonly slug: string;
  readonly title: string;
}

export const PROBLEM_RESPONSES: readonly ProblemResponseSpec[] = [
  { responseType: 'DEFAULT_4XX', slug: 'gateway-refused', title: 'Request refused by API Gateway' },
  { responseType: 'DEFAULT_5XX', slug: 'gateway-error', title: 'API Gateway error' },
  { responseType: 'ACCESS_DENIED', status: 403, slug: 'forbidden', title: 'Forbidden' },
  { responseType: 'MISSING_AUTHENTICATION_TOKEN', status: 403, slug: 'unauthenticated-or-unknown-route', title: 'No such route, or it needs a SigV4-signed request' },
  { responseType: 'INVALID_SIGNATURE', status: 403, slug: 'invalid-signature', title: 'Invalid SigV4 signature' },
  { responseType: 'EXPIRED_TOKEN', status: 403, slug: 'expired-credentials', title: 'Expired AWS credentials' },
  { responseType: 'UNAUTHORIZED', status: 401, slug: 'unauthorized', title: 'Unauthorized' },
  { responseType: 'THROTTLED', status: 429, slug: 'throttled', title: 'Too many requests' },
  { responseType: 'QUOTA_EXCEEDED', status: 429, slug: 'quota-exceeded', title: 'Quota exceeded' },
  { responseType: 'REQUEST_TOO_LARGE', status: 413, slug: 'request-too-large', title: 'Request too large' },
  { responseType: 'UNSUPPORTED_MEDIA_TYPE', status: 415, slug: 'unsupported-media-type', title: 'Unsupported media type' },
  { responseType: 'RESOURCE_NOT_FOUND', status: 404, slug: 'not-found', title: 'Not found' },
  { responseType: 'INTEGRATION_FAILURE', status: 504, slug: 'integration-failure', title: 'The function failed' },
  { responseType: 'INTEGRATION_TIMEOUT', status: 504, slug: 'integration-timeout', title: 'The function timed out' },
];

/** The response's body template (VTL): `$context.error.messageString` is API Gateway's message, already a quoted JSON string. */
export function problemTemplate(spec: ProblemResponseSpec): string {
  const fields = [
    `"type":${JSON.stringify(PROBLEM_TYPE_BASE + spec.slug)}`,
    `"title":${JSON.stringify(spec.title)}`,
    ...(spec.status === undefined ? [] : [`"status":${spec.status}`]),
    '"detail":$context.error.messageString',
    '"requestId":"$context.requestId"',
  ];
  return `{${fields.join(',')}}`;
}
