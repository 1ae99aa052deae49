import { apiGatewayHandler } from './shared/runtime';

/** GET /healthz and GET /v1/network: open routes; this function cannot sign and only reads the table. */
export const handler = apiGatewayHandler({ iamAuthorized: false });
