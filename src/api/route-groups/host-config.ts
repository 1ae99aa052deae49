import { apiRoute } from '../router';
import { getConfig } from '../routes/config';
import { getRoutes } from '../routes/route-table';

/** The long-polled reads: a host's config and the proxies' route table. */
export const HOST_CONFIG_ROUTES = [apiRoute('GET', '/v1/hosts/{id}/config', getConfig), apiRoute('GET', '/v1/routes', getRoutes)];
