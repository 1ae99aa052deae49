/**
 * The API's transport-independent request and response. The Node server (`src/server`) and the
 * Lambda entry points (`lambda/`) translate their own shapes into these and back.
 */
export interface ApiRequest {
  /** Upper-case HTTP method. */
  readonly method: string;
  /** Path without the query string, e.g. `/v1/hosts/h-123/config`. */
  readonly path: string;
  /** Header names in lower case; repeated headers joined with `, `. */
  readonly headers: Readonly<Record<string, string | undefined>>;
  /** Query parameters, first value of each. */
  readonly query: Readonly<Record<string, string | undefined>>;
  /** The raw body (the transport enforces no size limit; the API does). */
  readonly body: Buffer;
  /** The caller's verified AWS identity, when the transport authenticated it (API Gateway IAM auth). */
  readonly iam?: IamIdentity;
  /** Aborted when the client goes away; long-polls stop waiting. */
  readonly signal?: AbortSignal;
}

/** An AWS principal that API Gateway authenticated with SigV4. */
export interface IamIdentity {
  /** e.g. `arn:aws:sts::123456789012:assumed-role/LighthouseRole/i-0abc123`. */
  readonly arn: string;
  readonly accountId: string;
}

export interface ApiResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  /** Serialized body (JSON or problem+json); empty for 204/304. */
  readonly body: string;
}

/** One API, whatever carries it. */
export type ApiHandler = (request: ApiRequest) => Promise<ApiResponse>;
