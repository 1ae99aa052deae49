import { caExpiryOf, caRotationView } from '../ca-rotation';
import type { ApiContext } from '../context';
import type { ApiResponse } from '../http';
import { jsonResponse } from '../problem';

/** `GET /v1/network`: public facts every node and operator may read. */
export async function getNetwork(ctx: ApiContext): Promise<ApiResponse> {
  const view = await ctx.views.current();
  return jsonResponse(200, {
    cidr: view.cidr.toString(),
    ca: view.caBundle,
    caFingerprints: view.caCertificates.map((ca) => ca.fingerprint()),
    lighthouses: view.lighthouses.map((l) => ({ hostId: l.hostId, ip: l.ip, endpoints: l.endpoints })),
    policy: view.policy,
    egressRoutes: view.egressRoutes,
    caRotation: caRotationView(view.caRotation),
    caExpiry: caExpiryOf(view.caCertificates, ctx.clock()),
    ...await accessTokenKey(ctx),
  });
}

/** The proxies verify access tokens offline with this key (a `PUBLIC KEY` PEM). */
async function accessTokenKey(ctx: ApiContext): Promise<{ accessTokenPublicKey?: string }> {
  const pem = await ctx.tokenPublicKeyPem();
  return pem ? { accessTokenPublicKey: pem } : {};
}

/** `GET /healthz`: liveness, and whether the store answers. */
export async function health(ctx: ApiContext): Promise<ApiResponse> {
  try {
    await ctx.store.getConfigVersion();
    return jsonResponse(200, { status: 'ok', store: 'ok' });
  } catch {
    return jsonResponse(503, { status: 'degraded', store: 'unreachable' });
  }
}
