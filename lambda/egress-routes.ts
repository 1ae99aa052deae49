import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Ipv4Cidr, MeshError } from '../src/mesh';
import { parseEgressRoutes } from '../src/mesh/egress-routes';
import { GatewayStore } from '../src/store';
import { type CustomResourceRequest, sendCustomResourceResponse } from './shared/custom-resource';
import { logger } from './shared/logger';

/** A CloudFormation custom resource request for `Custom::NebulaEgressRoutes`. */
export type EgressRoutesEvent = CustomResourceRequest<{
  readonly TableName: string;
  /** `gateway.egress`: the VPC CIDR and the extra CIDRs (lib/config.ts egressRoutes). */
  readonly Routes: readonly string[];
}>;

/** A request the resource refuses; CloudFormation shows the message and rolls back. */
export class EgressRoutesError extends Error {
  override readonly name = 'EgressRoutesError';
}

/**
 * Create/Update: makes the network's egress routes (`PUT /v1/network/egress-routes`, the egress
 * nodes' certificate `subnets`) those of the configuration, through the same validation and the
 * same write (routes and config version in one transaction, so every agent and server picks them
 * up); unchanged routes are not written. Refused, naming `Routes[i]`: what the API would refuse.
 * Delete (egress turned off, or the stack destroyed): clears the routes if they are still the ones
 * this resource set (an admin's later change is left alone); never fails, so a stack can always go.
 * The physical id is fixed, so a change of routes is an Update, never a replacement.
 */
export async function applyEgressRoutesRequest(event: EgressRoutesEvent, store: GatewayStore): Promise<{ physicalResourceId: string }> {
  const props = event.ResourceProperties;
  const physicalResourceId = `nebula-egress-routes:${props.TableName}`;
  if (event.RequestType === 'Delete') {
    try {
      const network = await store.getNetwork();
      if (network && sameRoutes(network.egressRoutes ?? [], canonical(props.Routes, network.cidr))) await store.setEgressRoutes([]);
    } catch (err) {
      logger.warn('egress routes left as they are on delete', { error: (err as Error).message });
    }
    return { physicalResourceId: event.PhysicalResourceId ?? physicalResourceId };
  }
  const network = await store.getNetwork();
  if (!network) throw new EgressRoutesError("the table holds no network record yet: the State stack's CA custom resource creates it; deploy that stack first");
  let routes: string[];
  try {
    routes = parseEgressRoutes(props.Routes, Ipv4Cidr.parse(network.cidr), 'Routes');
  } catch (err) {
    if (err instanceof MeshError) throw new EgressRoutesError(`gateway.egress: ${err.message}`, { cause: err });
    throw err;
  }
  if (!sameRoutes(network.egressRoutes ?? [], routes)) {
    await store.setEgressRoutes(routes);
    logger.info('egress routes set', { routes });
  }
  return { physicalResourceId };
}

/** The routes as the record holds them, or none when they are not valid (a Delete must not fail). */
function canonical(routes: readonly string[], overlay: string): string[] | undefined {
  try {
    return parseEgressRoutes(routes, Ipv4Cidr.parse(overlay), 'Routes');
  } catch {
    return undefined;
  }
}

function sameRoutes(held: readonly string[], routes: readonly string[] | undefined): boolean {
  return routes !== undefined && held.join(',') === routes.join(',');
}

let store: GatewayStore | undefined;

export async function handler(event: EgressRoutesEvent): Promise<void> {
  let outcome: { physicalResourceId?: string; error?: Error };
  try {
    store ??= new GatewayStore({ client: new DynamoDBClient({}), tableName: event.ResourceProperties.TableName });
    outcome = await applyEgressRoutesRequest(event, store);
  } catch (err) {
    logger.error('egress routes custom resource failed', { requestType: event.RequestType, error: (err as Error).message });
    outcome = { error: err as Error };
  }
  await sendCustomResourceResponse(event, {
    physicalResourceId: outcome.physicalResourceId ?? event.PhysicalResourceId ?? `nebula-egress-routes:${event.LogicalResourceId}`,
    error: outcome.error,
  });
}
