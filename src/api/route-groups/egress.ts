import { apiRoute } from '../router';
import { getEgressPolicy, putEgressPolicy } from '../routes/egress-policies';
import { putEgressRoutes } from '../routes/egress-routes';
import { getEgressRules } from '../routes/egress-rules';

/** Admin routes of egress: the network's egress routes and each organisation's egress policy. */
export const EGRESS_ADMIN_ROUTES = [
  apiRoute('PUT', '/v1/network/egress-routes', putEgressRoutes),
  apiRoute('GET', '/v1/egress-policies/{organization}', getEgressPolicy),
  apiRoute('PUT', '/v1/egress-policies/{organization}', putEgressPolicy),
];

/** The egress nodes' rule feed (an egress host's credential): polled, answered at once. */
export const EGRESS_FEED_ROUTES = [apiRoute('GET', '/v1/egress/rules', getEgressRules)];
