import { DEFAULT_LIGHTHOUSE_PORT } from '../../mesh/config';
import { HostNameTakenError, type HostRecord, PublicKeyTakenError, StateConflictError } from '../../store';
import { instanceIdOf, requireAdmin } from '../auth';
import { type ApiContext, issueCertificate, parsePublicKey } from '../context';
import { renderHostConfig } from '../host-config';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, conflict, jsonResponse, unauthorized, validationProblem } from '../problem';
import { ENROLLMENT_TOKEN_PREFIX, hashSecret, HOST_CREDENTIAL_PREFIX, newHostId, newSecret } from '../secrets';
import { parseJsonBody, registerBody } from '../validation';

/**
 * Why a node verifier's check did not pass, as the answer: 403 when it says the instance is not in
 * the fleet, 503 when the check itself failed, 502 when the verifier broke its contract by
 * rejecting with something that is not an Error (nothing can be said about the instance then).
 */
function verificationProblem(err: unknown, instanceId: string, role: string): ApiProblem {
  if (!(err instanceof Error)) {
    return new ApiProblem(502, 'node-verification-failed', 'Bad gateway', `could not check instance ${instanceId}: the node verifier failed without an error`);
  }
  // By name, not instanceof: importing the EC2 verifier here would load the EC2 SDK into every function.
  if (err.name === 'NodeVerificationError') {
    return new ApiProblem(403, 'not-in-fleet', 'Forbidden', `instance ${instanceId} is not a ${role} of this gateway: ${err.message}`);
  }
  return new ApiProblem(503, 'node-verification-unavailable', 'Service unavailable', `could not check instance ${instanceId}: ${err.message}`);
}

/**
 * `POST /v1/nodes/register {role, publicKey}`: a lighthouse, proxy or egress instance joins its fleet.
 * Behind API Gateway the caller is the instance's IAM role, whose session name is the instance id;
 * the NodeVerifier checks with EC2 that it belongs to the fleet. Registering again (a reboot, a new
 * key) re-issues the certificate and the credential of the same host.
 */
export async function registerNode(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  const input = parseJsonBody(request.body, registerBody);
  const publicKey = parsePublicKey(input.publicKey);
  const instanceId = callerInstance(ctx, request, input.instanceId);
  if (!ctx.nodeVerifier) {
    throw new ApiProblem(501, 'no-node-verifier', 'Not available', 'node registration needs an EC2 node verifier, which this gateway does not have');
  }
  let addresses: { publicIp?: string; privateIp?: string };
  try {
    addresses = await ctx.nodeVerifier.verify(instanceId, input.role);
  } catch (err) {
    throw verificationProblem(err, instanceId, input.role);
  }
  const port = input.listenPort ?? DEFAULT_LIGHTHOUSE_PORT;
  const endpoints = input.role === 'lighthouse' && addresses.publicIp ? [`${addresses.publicIp}:${port}`] : undefined;
  const view = await ctx.views.current();
  const credential = newSecret(HOST_CREDENTIAL_PREFIX);
  const now = ctx.clock();
  let host = await existingHost(ctx, instanceId);
  if (host && host.role !== input.role) {
    throw conflict('role-mismatch', `instance ${instanceId} is registered as a ${host.role}`, 'role');
  }
  // Before a first registration creates the host: a refused key must leave nothing behind.
  const holder = await ctx.store.getPublicKeyHolder(publicKey.pem);
  if (holder !== undefined && holder !== host?.id) throw conflict('public-key-taken', new PublicKeyTakenError().message, 'publicKey');
  if (!host) {
    try {
      const tokenTtl = ctx.settings.enrollmentTokenTtlSeconds * 1000;
      ({ host } = await ctx.store.createHost({
        host: { id: newHostId(), name: instanceId, role: input.role, groups: [], endpoints, instanceId },
        cidr: view.cidr,
        // Never handed out: the instance authenticates with IAM, the token only keeps the store's invariants.
        token: { hash: hashSecret(newSecret(ENROLLMENT_TOKEN_PREFIX)), expiresAt: new Date(now.getTime() + tokenTtl) },
        now,
      }));
    } catch (err) {
      // A concurrent registration of the same instance created the host (its name is the instance id).
      if (!(err instanceof StateConflictError || err instanceof HostNameTakenError)) throw err;
      host = await existingHost(ctx, instanceId);
      if (!host && err instanceof HostNameTakenError) throw conflict('name-taken', err.message, 'instanceId');
      if (!host) throw err;
    }
  }
  const certificate = await issueCertificate(ctx, view, host, publicKey);
  const credentialHash = hashSecret(credential);
  let registered: HostRecord;
  try {
    registered =
      host.status === 'pending' && host.tokenHash
        ? await ctx.store.completeEnrollment({ host, tokenHash: host.tokenHash, credentialHash, certificate, now })
        : await ctx.store.recordCertificate({ host, certificate, credentialHash, endpoints, now });
  } catch (err) {
    if (err instanceof PublicKeyTakenError) throw conflict('public-key-taken', err.message, 'publicKey');
    if (err instanceof StateConflictError) throw conflict('concurrent-registration', `instance ${instanceId} is registering concurrently; retry`);
    throw err;
  }
  // A lighthouse's endpoints, or an egress node environments now route through: every config may change.
  if (endpoints || registered.role === 'egress') {
    ctx.views.invalidate();
    ctx.feed.notifyNetwork();
  }
  ctx.feed.notifyHost(registered.id);
  ctx.logger?.info('node registered', { hostId: registered.id, role: registered.role, instanceId });
  const rendered = renderHostConfig(registered, await ctx.views.current(), now, ctx.settings.watchUrl);
  return jsonResponse(200, { ...rendered.body, credential });
}

/** The instance id: the IAM session name behind API Gateway, or the body's with the admin token (local testing). */
function callerInstance(ctx: ApiContext, request: ApiRequest, bodyInstanceId: string | undefined): string {
  if (request.iam) {
    const instanceId = instanceIdOf(request.iam.arn);
    if (!instanceId) throw unauthorized('the caller is not an EC2 instance role session (assumed-role/<role>/i-...)');
    if (bodyInstanceId !== undefined && bodyInstanceId !== instanceId) {
      throw validationProblem([{ field: 'instanceId', message: "does not match the caller's IAM session" }]);
    }
    return instanceId;
  }
  requireAdmin(ctx, request);
  if (bodyInstanceId === undefined) throw validationProblem([{ field: 'instanceId', message: 'is required without IAM authentication' }]);
  return bodyInstanceId;
}

async function existingHost(ctx: ApiContext, instanceId: string): Promise<HostRecord | undefined> {
  const hostId = await ctx.store.getHostIdForInstance(instanceId);
  return hostId ? ctx.store.getHost(hostId) : undefined;
}
