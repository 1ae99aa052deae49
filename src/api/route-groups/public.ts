import { apiRoute } from '../router';
import { getNetwork, health } from '../routes/network';

/** Open reads: liveness and the network's public facts. */
export const PUBLIC_ROUTES = [apiRoute('GET', '/healthz', (ctx) => health(ctx)), apiRoute('GET', '/v1/network', (ctx) => getNetwork(ctx))];
