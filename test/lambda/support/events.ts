import { randomUUID } from 'node:crypto';
import type { RestApiEvent } from '../../../lambda/shared/apigw';

export interface EventInput {
  method: string;
  /** Resource template, e.g. `/v1/hosts/{id}/config`. */
  resource: string;
  pathParameters?: Record<string, string>;
  query?: Record<string, string>;
  headers?: Record<string, string>;
  body?: unknown;
  /** Send the body base64-encoded, as API Gateway does for binary media types. */
  base64?: boolean;
  /** The SigV4 caller API Gateway verified (IAM routes); absent on open routes. */
  iamArn?: string;
}

/**
 * An API Gateway REST API proxy event (payload 1.0) as API Gateway sends it to Lambda: both
 * single- and multi-value headers and query, the stage-less path, requestContext.identity with
 * nulls where API Gateway puts nulls.
 */
export function restApiEvent(input: EventInput): RestApiEvent {
  const path = input.resource.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(input.pathParameters?.[name] ?? ''));
  const headers: Record<string, string> = {
    Accept: 'application/json',
    Host: 'abc123.execute-api.us-east-1.amazonaws.com',
    'User-Agent': 'curl/8.5.0',
    'X-Forwarded-For': '203.0.113.7',
    'X-Forwarded-Port': '443',
    'X-Forwarded-Proto': 'https',
    ...(input.body !== undefined ? { 'Content-Type': 'application/json' } : {}),
    ...input.headers,
  };
  const text = input.body === undefined ? null : typeof input.body === 'string' ? input.body : JSON.stringify(input.body);
  const iamAccount = input.iamArn ? /:(?:sts|iam)::(\d{12}):/.exec(input.iamArn)?.[1] ?? null : null;
  const event = {
    resource: input.resource,
    path,
    httpMethod: input.method,
    headers,
    multiValueHeaders: Object.fromEntries(Object.entries(headers).map(([k, v]) => [k, [v]])),
    queryStringParameters: input.query ?? null,
    multiValueQueryStringParameters: input.query ? Object.fromEntries(Object.entries(input.query).map(([k, v]) => [k, [v]])) : null,
    pathParameters: input.pathParameters ?? null,
    stageVariables: null,
    requestContext: {
      accountId: '111122223333',
      apiId: 'abc123',
      domainName: 'abc123.execute-api.us-east-1.amazonaws.com',
      domainPrefix: 'abc123',
      extendedRequestId: 'Xyz=',
      httpMethod: input.method,
      path: `/api${path}`,
      protocol: 'HTTP/1.1',
      requestId: randomUUID(),
      requestTime: '26/Nov/2026:10:00:00 +0000',
      requestTimeEpoch: 1795687200000,
      resourceId: 'r1',
      resourcePath: input.resource,
      stage: 'api',
      identity: {
        accessKey: input.iamArn ? 'ASIAEXAMPLEEXAMPLE' : null,
        accountId: iamAccount,
        caller: input.iamArn ? 'AROAEXAMPLE:session' : null,
        cognitoAuthenticationProvider: null,
        cognitoAuthenticationType: null,
        cognitoIdentityId: null,
        cognitoIdentityPoolId: null,
        principalOrgId: null,
        sourceIp: '203.0.113.7',
        user: input.iamArn ? 'AROAEXAMPLE:session' : null,
        userAgent: 'curl/8.5.0',
        userArn: input.iamArn ?? null,
      },
    },
    body: text === null ? null : input.base64 ? Buffer.from(text).toString('base64') : text,
    isBase64Encoded: input.base64 ?? false,
  };
  return event;
}
