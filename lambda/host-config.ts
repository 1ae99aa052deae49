import type { ApiRequest } from '../src/api/http';
import { HOST_CONFIG_ROUTES } from '../src/api/route-groups/host-config';
import { apiGatewayHandler } from './shared/runtime';

/** API Gateway ends a request after 29 s: a long-poll here waits at most this long, then answers 304. */
export const LAMBDA_MAX_WAIT_SECONDS = 25;

/** The API's own limit; a larger value is left alone so the API answers 400 naming `wait`. */
const API_MAX_WAIT_SECONDS = 60;

/** Shortens a valid `?wait=` beyond the Lambda limit; anything else is left for the API to judge. */
export function capWait(request: ApiRequest): ApiRequest {
  const wait = request.query.wait;
  if (wait === undefined || !/^\d+$/.test(wait)) return request;
  const seconds = Number(wait);
  if (seconds <= LAMBDA_MAX_WAIT_SECONDS || seconds > API_MAX_WAIT_SECONDS) return request;
  return { ...request, query: { ...request.query, wait: String(LAMBDA_MAX_WAIT_SECONDS) } };
}

/**
 * GET /v1/hosts/{id}/config and GET /v1/routes (the proxies' route table, `?host=<proxy id>`): open at
 * the gateway, host credential checked by the API; cannot sign. The config answers at once
 * (`longPollMaxSeconds` 0, see shared/runtime.ts): agents watch the gateway server and poll here
 * only while it is unreachable. The route table still long-polls, capped below.
 */
export const handler = apiGatewayHandler({ routes: HOST_CONFIG_ROUTES, iamAuthorized: false, adapt: capWait });
