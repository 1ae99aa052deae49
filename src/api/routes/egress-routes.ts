import * as z from 'zod/mini';
import { MAX_EGRESS_ROUTES, parseEgressRoutes } from '../../mesh/egress-routes';
import { requireAdmin } from '../auth';
import type { ApiContext } from '../context';
import type { ApiRequest, ApiResponse } from '../http';
import { jsonResponse } from '../problem';
import { meshField, parseJsonBody } from '../validation';

const egressRoutesBody = z.strictObject({
  routes: z.array(z.unknown()).check(z.maxLength(MAX_EGRESS_ROUTES, `must hold at most ${MAX_EGRESS_ROUTES} routes`)),
});

/**
 * `PUT /v1/network/egress-routes {routes}`: the networks environments reach through the egress
 * nodes. The config version moves: every environment's config gets the new unsafe_routes (its
 * agent restarts nebula, which reads tun settings only at start) and every egress node gets a
 * certificate carrying them. Setting the routes already set writes nothing.
 */
export async function putEgressRoutes(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const input = parseJsonBody(request.body, egressRoutesBody);
  const view = await ctx.views.current();
  const routes = meshField(() => parseEgressRoutes(input.routes, view.cidr, 'routes'));
  if (routes.join(',') !== view.egressRoutes.join(',')) {
    await ctx.store.setEgressRoutes(routes);
    ctx.views.invalidate();
    ctx.feed.notifyNetwork();
    ctx.logger?.info('egress routes set', { routes: routes.join(',') });
  }
  return jsonResponse(200, { egressRoutes: routes });
}
