import { apiRoute } from '../router';
import { EGRESS_ADMIN_ROUTES } from './egress';
import { createAccessToken } from '../routes/access-tokens';
import { postCaRotation } from '../routes/ca-rotation';
import { createHost, getHost, listHosts, revokeHost, updateHost } from '../routes/hosts';
import { deletePort, putPort } from '../routes/ports';

/** Admin routes: hosts, their published ports, the proxies' access tokens, and egress routes and policies. */
export const HOST_ADMIN_ROUTES = [
  apiRoute('POST', '/v1/hosts', createHost),
  apiRoute('GET', '/v1/hosts', listHosts),
  apiRoute('GET', '/v1/hosts/{id}', getHost),
  apiRoute('PATCH', '/v1/hosts/{id}', updateHost),
  apiRoute('DELETE', '/v1/hosts/{id}', revokeHost),
  apiRoute('PUT', '/v1/hosts/{id}/ports/{port}', putPort),
  apiRoute('DELETE', '/v1/hosts/{id}/ports/{port}', deletePort),
  apiRoute('POST', '/v1/access-tokens', createAccessToken),
  apiRoute('POST', '/v1/network/ca-rotation', postCaRotation),
  ...EGRESS_ADMIN_ROUTES,
];
