import { apiRoute } from '../router';
import { EGRESS_FEED_ROUTES } from './egress';
import { getConfig } from '../routes/config';
import { getRoutes } from '../routes/route-table';

/** The hosts' reads: a host's config and the proxies' route table (long-polled), the egress nodes' rule feed (polled). */
export const HOST_CONFIG_ROUTES = [apiRoute('GET', '/v1/hosts/{id}/config', getConfig), apiRoute('GET', '/v1/routes', getRoutes), ...EGRESS_FEED_ROUTES];
