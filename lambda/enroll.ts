import { ENROLL_ROUTES } from '../src/api/route-groups/enroll';
import { apiGatewayHandler } from './shared/runtime';

/** POST /v1/enroll and POST /v1/hosts/{id}/renew: open at the gateway, token/credential checked by the API; signs. */
export const handler = apiGatewayHandler({ routes: ENROLL_ROUTES, iamAuthorized: false });
