import { PUBLIC_ROUTES } from '../src/api/route-groups/public';
import { apiGatewayHandler } from './shared/runtime';

/**
 * GET /healthz, GET /v1/network, GET /v1/bootstrap and GET /v1/agent/{file}: open routes; this
 * function cannot sign and only reads the table. The access token public key it publishes comes
 * from TOKEN_PUBLIC_KEY, so it needs no access to that key; the bootstrap script pins
 * GATEWAY_API_URL (the stage URL) and the agent bundle its asset carries beside index.js.
 */
export const handler = apiGatewayHandler({ routes: PUBLIC_ROUTES, iamAuthorized: false });
