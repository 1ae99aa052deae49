import { HOST_ADMIN_ROUTES } from '../src/api/route-groups/host-admin';
import { apiGatewayHandler } from './shared/runtime';

/**
 * Admin routes, IAM-authorized at API Gateway: POST/GET /v1/hosts, GET/PATCH/DELETE /v1/hosts/{id},
 * PUT/DELETE /v1/hosts/{id}/ports/{port}, PUT /v1/network/egress-routes, GET/PUT
 * /v1/egress-policies/{organization}, POST /v1/network/ca-rotation (self-signs the new CA with the
 * next CA key, if configured), POST /v1/access-tokens (the only function that signs with the access
 * token key; it never holds the current CA key).
 */
export const handler = apiGatewayHandler({ routes: HOST_ADMIN_ROUTES, iamAuthorized: true });
