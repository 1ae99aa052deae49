import { Hash } from '@smithy/hash-node';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import type { AwsCredentialIdentityProvider } from '@smithy/types';
import { GatewayRequestError } from './errors';

/** A request about to be sent: the headers to authenticate are added to `headers`. */
export interface OutgoingRequest {
  readonly method: string;
  readonly url: URL;
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
}

/** How requests prove who sends them. */
export interface RequestAuth {
  /** The request's headers with the authentication added (never logged). */
  authenticate(request: OutgoingRequest): Promise<Record<string, string>>;
}

/** The local gateway's admin token (`gwa_…`) as `Authorization: Bearer`. */
export function bearerTokenAuth(token: string): RequestAuth {
  return { authenticate: async (request) => ({ ...request.headers, authorization: `Bearer ${token}` }) };
}

/** API Gateway's IAM authorization: the signing service of execute-api. */
export const EXECUTE_API_SERVICE = 'execute-api';

/**
 * SigV4 for API Gateway's IAM routes, with the AWS SDK's own signer (`@smithy/signature-v4`):
 * method, path, query, the host, content type and body are signed; a session token is sent as
 * `x-amz-security-token`. `credentials` is a provider from the SDK's chain (environment, profile,
 * SSO, instance or container role).
 */
export function sigv4Auth(options: { region: string; credentials: AwsCredentialIdentityProvider }): RequestAuth {
  const signer = new SignatureV4({ service: EXECUTE_API_SERVICE, region: options.region, credentials: options.credentials, sha256: Hash.bind(null, 'sha256') });
  return {
    async authenticate(request) {
      const { url } = request;
      const unsigned = new HttpRequest({
        method: request.method,
        protocol: url.protocol,
        hostname: url.hostname,
        ...(url.port ? { port: Number(url.port) } : {}),
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        headers: { ...request.headers, host: url.host },
        ...(request.body !== undefined ? { body: request.body } : {}),
      });
      let signed: HttpRequest;
      try {
        signed = (await signer.sign(unsigned)) as HttpRequest;
      } catch (err) {
        throw new GatewayRequestError(`cannot sign the request with AWS credentials: ${(err as Error).message}`, { cause: err });
      }
      // fetch sends Host itself, from the same URL: the value signed.
      const { host: _host, ...headers } = signed.headers;
      return headers;
    },
  };
}
