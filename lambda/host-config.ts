import { HOST_CONFIG_ROUTES } from '../src/api/route-groups/host-config';
import { apiGatewayHandler } from './shared/runtime';

/**
 * GET /v1/hosts/{id}/config, GET /v1/routes (the proxies' route table, `?host=<proxy id>`) and GET
 * /v1/egress/rules (the egress nodes' rule feed, `?host=<egress id>`): open at
 * the gateway, host credential checked by the API; cannot sign. The config answers at once
 * (`longPollMaxSeconds` 0, see shared/runtime.ts): agents watch the gateway server and poll here
 * only while it is unreachable; the route table likewise (proxies watch it on the gateway server).
 */
export const handler = apiGatewayHandler({ routes: HOST_CONFIG_ROUTES, iamAuthorized: false });
