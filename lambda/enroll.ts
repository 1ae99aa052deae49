import { apiGatewayHandler } from './shared/runtime';

/** POST /v1/enroll and POST /v1/hosts/{id}/renew: open at the gateway, token/credential checked by the API; signs. */
export const handler = apiGatewayHandler({ iamAuthorized: false });
