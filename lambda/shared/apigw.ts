import type { ApiRequest, ApiResponse } from '../../src/api/http';

/**
 * The parts of API Gateway's REST (v1 payload) proxy event this adapter reads. Declared here
 * rather than taken from @types/aws-lambda: a handful of fields, and their meaning is spelled out.
 */
export interface RestApiEvent {
  readonly httpMethod: string;
  /** The request path without the stage, e.g. `/v1/hosts/h-1/config`. */
  readonly path: string;
  readonly headers?: Record<string, string | undefined> | null;
  readonly multiValueHeaders?: Record<string, string[] | undefined> | null;
  readonly queryStringParameters?: Record<string, string | undefined> | null;
  readonly multiValueQueryStringParameters?: Record<string, string[] | undefined> | null;
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly requestContext: {
    readonly requestId?: string;
    readonly identity?: {
      /** Set by API Gateway only when it verified a SigV4 signature (IAM authorization). */
      readonly userArn?: string | null;
      readonly accountId?: string | null;
      readonly sourceIp?: string | null;
    } | null;
  };
}

export interface RestApiResult {
  readonly statusCode: number;
  readonly headers: Record<string, string>;
  readonly body: string;
  readonly isBase64Encoded: false;
}

export interface AdapterOptions {
  /**
   * Whether the function's routes are IAM-authorized at the gateway. Only then is the caller's
   * identity passed on as `request.iam`; on open routes it is ignored whatever the event says.
   */
  readonly iamAuthorized: boolean;
}

/** API Gateway event → ApiRequest: lower-case headers (repeats joined), first query values, raw body. */
export function toApiRequest(event: RestApiEvent, options: AdapterOptions): ApiRequest {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.headers ?? {})) {
    if (value !== undefined) headers[name.toLowerCase()] = value;
  }
  for (const [name, values] of Object.entries(event.multiValueHeaders ?? {})) {
    if (values && values.length > 0) headers[name.toLowerCase()] = values.join(', ');
  }
  const query: Record<string, string> = {};
  for (const [name, value] of Object.entries(event.queryStringParameters ?? {})) {
    if (value !== undefined) query[name] = value;
  }
  for (const [name, values] of Object.entries(event.multiValueQueryStringParameters ?? {})) {
    if (values && values.length > 0) query[name] = values[0];
  }
  const body = event.body ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8') : Buffer.alloc(0);
  const identity = event.requestContext.identity;
  const iam =
    options.iamAuthorized && identity?.userArn && identity.accountId ? { arn: identity.userArn, accountId: identity.accountId } : undefined;
  return { method: event.httpMethod.toUpperCase(), path: event.path, headers, query, body, ...(iam ? { iam } : {}) };
}

/** ApiResponse → API Gateway proxy result. */
export function toRestApiResult(response: ApiResponse): RestApiResult {
  return { statusCode: response.status, headers: { ...response.headers }, body: response.body, isBase64Encoded: false };
}
