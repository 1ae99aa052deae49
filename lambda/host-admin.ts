import { apiGatewayHandler } from './shared/runtime';

/** Admin host routes (POST/GET /v1/hosts, GET/DELETE /v1/hosts/{id}): IAM-authorized at API Gateway. */
export const handler = apiGatewayHandler({ iamAuthorized: true });
