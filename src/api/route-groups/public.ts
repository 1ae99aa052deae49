import { apiRoute } from '../router';
import { getAgent, getBootstrap } from '../routes/bootstrap';
import { getNetwork, health } from '../routes/network';

/** Open reads: liveness, the network's public facts, and what an environment needs to join (the bootstrap script and the agent bundle). */
export const PUBLIC_ROUTES = [
  apiRoute('GET', '/healthz', (ctx) => health(ctx)),
  apiRoute('GET', '/v1/network', (ctx) => getNetwork(ctx)),
  apiRoute('GET', '/v1/bootstrap', getBootstrap),
  apiRoute('GET', '/v1/agent/{file}', getAgent),
];
