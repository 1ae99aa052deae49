import { createPublicKey } from 'node:crypto';
import { MeshError } from '../mesh/errors';
import { printable } from '../mesh/ipv4';
import { NetworkNotInitialisedError, StateConflictError } from '../store';
import { advanceCaRotation } from './ca-rotation-service';
import { ChangeFeed } from './change-feed';
import type { ApiContext } from './context';
import type { ApiHandler, ApiRequest, ApiResponse } from './http';
import { NetworkViewCache } from './network-view';
import { ApiProblem, problemResponse, validationProblem } from './problem';
import { RouteTableCache } from './route-table';
import { type ApiRoute, route } from './router';
import { type ApiDependencies, DEFAULT_API_SETTINGS } from './settings';

export type { ApiHandler, ApiRequest, ApiResponse, IamIdentity } from './http';
export { ApiProblem, problemResponse, type ProblemDetails, type FieldError } from './problem';
export { ChangeFeed } from './change-feed';
export type { ApiRoute, RouteHandler } from './router';
export { type ApiDependencies, type PreparableSigner, type ApiSettings, type ApiLogger, type NodeVerifier, DEFAULT_API_SETTINGS, checkWatchUrl, WatchUrlError } from './settings';
export { type AdminRole, AdminRoleConfigError, isAdminPrincipal, parseAdminRoleArns } from './admin-roles';
export { ADMIN_TOKEN_PREFIX, ENROLLMENT_TOKEN_PREFIX, HOST_CREDENTIAL_PREFIX, hashSecret, newSecret, newHostId } from './secrets';
/** Client input (a path) as it may be logged: at most 64 printable ASCII characters. */
export { printable as loggable } from '../mesh/ipv4';

/**
 * An ApiHandler that can also be shut down (wakes long-polls, stops polling), and move a CA
 * rotation on (the server's sweep; returns the phases entered).
 */
export type Api = ApiHandler & { close(): void; advanceCaRotation(): Promise<string[]> };

/** A 413 problem for a body over the limit (the server uses it before buffering the whole body). */
export function payloadTooLarge(maxBytes: number): ApiResponse {
  return problemResponse(
    new ApiProblem(413, 'payload-too-large', 'Payload too large', `the request body is larger than ${maxBytes} bytes`, [
      { field: 'body', message: `larger than ${maxBytes} bytes` },
    ]),
  );
}

/**
 * The v1 API serving `routes`, independent of transport: ApiRequest in, ApiResponse out. Never throws.
 * The routes are data (see route-groups/) so a Lambda bundle carries only the handlers it serves.
 */
export function createApi(deps: ApiDependencies, routes: readonly ApiRoute[]): Api {
  const settings = { ...DEFAULT_API_SETTINGS, ...deps.settings };
  const clock = deps.clock ?? (() => new Date());
  const ctx: ApiContext = {
    store: deps.store,
    signer: deps.signer,
    nextSigner: deps.nextSigner,
    views: new NetworkViewCache(deps.store, deps.nextSigner ? [deps.signer, deps.nextSigner] : [deps.signer], clock, settings.versionPollIntervalMs, settings.blocklistHistory),
    feed: deps.changeFeed ?? new ChangeFeed(() => deps.store.getConfigVersion(), settings.versionPollIntervalMs),
    settings,
    clock,
    adminTokenHash: deps.adminTokenHash,
    adminRoles: deps.adminRoles,
    nodeVerifier: deps.nodeVerifier,
    logger: deps.logger,
    tokenSigner: deps.tokenSigner,
    tokenPublicKeyPem: once(async () => (deps.tokenSigner ? spkiPem(await deps.tokenSigner.publicKey()) : undefined)),
    routes: new RouteTableCache(deps.store, settings.versionPollIntervalMs),
    routesFeed: deps.routesFeed ?? new ChangeFeed(() => deps.store.getRoutesVersion(), settings.versionPollIntervalMs),
  };
  const handle = async (request: ApiRequest): Promise<ApiResponse> => {
    try {
      if (request.body.length > settings.maxBodyBytes) return payloadTooLarge(settings.maxBodyBytes);
      const { handler, params } = route(routes, request);
      const response = await handler(ctx, request, ...params);
      return request.method === 'HEAD' ? { ...response, body: '' } : response;
    } catch (err) {
      return problemResponse(toProblem(err, ctx, request));
    }
  };
  return Object.assign(handle, {
    advanceCaRotation: () => advanceCaRotation(ctx, { countHosts: true }),
    close: () => {
      ctx.feed.close();
      ctx.routesFeed.close();
    },
  });
}

/** A raw Ed25519 public key as a `PUBLIC KEY` (SPKI) PEM, which `loadAccessTokenPublicKey` reads. */
function spkiPem(raw: Uint8Array): string {
  const key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
  return key.export({ type: 'spki', format: 'pem' }) as string;
}

/** Runs `load` on first use and keeps its promise (a failure is retried on next use). */
function once<T>(load: () => Promise<T>): () => Promise<T> {
  let pending: Promise<T> | undefined;
  return () => {
    pending ??= load().catch((err: unknown) => {
      pending = undefined;
      throw err;
    });
    return pending;
  };
}

function toProblem(err: unknown, ctx: ApiContext, request: ApiRequest): ApiProblem {
  if (err instanceof ApiProblem) return err;
  if (err instanceof MeshError) return validationProblem([{ field: err.field, message: err.message.replace(`${err.field}: `, '') }]);
  if (err instanceof StateConflictError) return new ApiProblem(409, 'conflict', 'Conflict', err.message);
  if (err instanceof NetworkNotInitialisedError) return new ApiProblem(503, 'not-initialised', 'Not initialised', err.message);
  // The path is the client's: logged shortened and without control characters.
  ctx.logger?.error('request failed', { method: printable(request.method), path: printable(request.path), error: (err as Error)?.message ?? String(err) });
  return new ApiProblem(500, 'internal', 'Internal error', 'the gateway failed to handle the request; see its logs');
}

// What transports (src/server, lambda/) need to build the API's dependencies; they import only src/api.
export { GatewayStore, ensureTable, TABLE_SCHEMA, type NetworkRecord, type HostRecord, hostItem, leaseItem } from '../store';
export {
  createCA,
  encodeEd25519PrivateKeyPem,
  generateEd25519KeyPair,
  LocalSigner,
  NebulaCertificate,
  parseCertificateBundle,
  parseEd25519PrivateKeyPem,
  parseGoDuration,
  type Signer,
} from '../pki';
export { Ipv4Cidr } from '../mesh/cidr';
export { CA_EXPIRY_WARNING_DAYS, type CaExpiryWarning, caExpiryOf, caExpiryWarning, caRotationView, DEFAULT_DISTRIBUTE_SECONDS } from './ca-rotation';
export { DEFAULT_NETWORK_POLICY, type NetworkPolicy } from '../mesh/firewall';
export { parseEgressRoutes } from '../mesh/egress-routes';
