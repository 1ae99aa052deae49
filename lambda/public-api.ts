import { PUBLIC_ROUTES } from '../src/api/route-groups/public';
import { apiGatewayHandler } from './shared/runtime';

/**
 * GET /healthz and GET /v1/network: open routes; this function cannot sign and only reads the table.
 * The access token public key it publishes comes from TOKEN_PUBLIC_KEY, so it needs no access to that key.
 */
export const handler = apiGatewayHandler({ routes: PUBLIC_ROUTES, iamAuthorized: false });
