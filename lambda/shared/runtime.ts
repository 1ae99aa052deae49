import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { type ApiDependencies, type ApiLogger, type ApiRoute, checkWatchUrl, createApi, loggable, type NodeVerifier, parseAdminRoleArns } from '../../src/api';
import { GatewayStore } from '../../src/store';
import { type RestApiEvent, type RestApiResult, toApiRequest, toRestApiResult } from './apigw';
import { logger } from './logger';
import { nextSignerFromEnvironment, signerFromEnvironment, tokenSignerFromEnvironment } from './signer';

/** The API's logger over the function's Powertools logger. */
export const apiLogger: ApiLogger = {
  info: (message, fields) => logger.info(message, { ...fields }),
  error: (message, fields) => logger.error(message, { ...fields }),
};

/** Comma-separated IAM role ARNs whose callers are admins (set on host-admin); unset or empty: no IAM caller is admin. */
export const ADMIN_ROLE_ARNS_VARIABLE = 'GATEWAY_ADMIN_ROLE_ARNS';

/** Where agents watch their config: the gateway server's TLS listener (e.g. `https://watch.<domain>:8443`); unset: agents poll this API. */
export const WATCH_URL_VARIABLE = 'GATEWAY_WATCH_URL';

/** The API's stage URL (set on public-api): pinned in the bootstrap script GET /v1/bootstrap serves. */
export const API_URL_VARIABLE = 'GATEWAY_API_URL';

/** A function never holds a request open: long-lived watches belong to the gateway server. */
export const LAMBDA_LONG_POLL_MAX_SECONDS = 0;

/** The API's dependencies from the function's environment; built once per execution environment. */
export function dependenciesFromEnvironment(env: NodeJS.ProcessEnv, nodeVerifier?: NodeVerifier): ApiDependencies {
  const lifetimeHours = Number(env.CERT_LIFETIME_HOURS ?? '24');
  return {
    store: storeFromEnvironment(env),
    adminRoles: parseAdminRoleArns(env[ADMIN_ROLE_ARNS_VARIABLE], ADMIN_ROLE_ARNS_VARIABLE),
    signer: signerFromEnvironment(env),
    nextSigner: nextSignerFromEnvironment(env),
    tokenSigner: tokenSignerFromEnvironment(env),
    nodeVerifier,
    settings: {
      certificateLifetimeSeconds: lifetimeHours * 3600,
      longPollMaxSeconds: LAMBDA_LONG_POLL_MAX_SECONDS,
      ...(env[WATCH_URL_VARIABLE] ? { watchUrl: checkWatchUrl(env[WATCH_URL_VARIABLE], WATCH_URL_VARIABLE) } : {}),
      ...(env[API_URL_VARIABLE] ? { publicUrl: checkWatchUrl(env[API_URL_VARIABLE], API_URL_VARIABLE) } : {}),
    },
    logger: apiLogger,
  };
}

/** The gateway's table (TABLE_NAME), through the function's own DynamoDB client. */
export function storeFromEnvironment(env: NodeJS.ProcessEnv): GatewayStore {
  const tableName = env.TABLE_NAME;
  if (!tableName) throw new Error('TABLE_NAME is not set');
  return new GatewayStore({ client: new DynamoDBClient({}), tableName });
}

export interface HandlerOptions {
  /** The routes this function serves (its share of lib/constructs/gateway-api.ts ROUTES); any other answers 404/405. */
  readonly routes: readonly ApiRoute[];
  /** Whether API Gateway checks IAM on this function's routes (see toApiRequest). */
  readonly iamAuthorized: boolean;
  readonly nodeVerifier?: () => NodeVerifier;
  /** Looks at the event before the API does; a result short-circuits the request. */
  readonly guard?: (event: RestApiEvent) => RestApiResult | undefined;
}

/** A Lambda handler serving the API for API Gateway REST (v1 payload) events. */
export function apiGatewayHandler(options: HandlerOptions): (event: RestApiEvent) => Promise<RestApiResult> {
  let api: ReturnType<typeof createApi> | undefined;
  return async (event) => {
    const refused = options.guard?.(event);
    if (refused) return refused;
    api ??= createApi(dependenciesFromEnvironment(process.env, options.nodeVerifier?.()), options.routes);
    const request = toApiRequest(event, { iamAuthorized: options.iamAuthorized });
    const response = await api(request);
    logger.info('request', { method: loggable(request.method), path: loggable(request.path), status: response.status, requestId: event.requestContext.requestId });
    return toRestApiResult(response);
  };
}
