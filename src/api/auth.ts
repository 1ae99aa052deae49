import type { HostRecord } from '../store';
import { isAdminPrincipal } from './admin-roles';
import type { ApiContext } from './context';
import type { ApiRequest } from './http';
import { ApiProblem, unauthorized } from './problem';
import { ADMIN_TOKEN_PREFIX, HOST_CREDENTIAL_PREFIX, secretMatches } from './secrets';

/** The bearer token of the Authorization header, or undefined. */
export function bearerToken(request: ApiRequest): string | undefined {
  const header = request.headers.authorization;
  // Stryker disable next-line ConditionalExpression: without the header the pattern below matches nothing either
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/**
 * Admin routes: in AWS, a caller API Gateway authenticated with IAM (request.iam) whose ARN is one
 * of the configured admin roles or a session of one (`admin-roles.ts`; none configured: no IAM
 * caller is admin); in local mode the admin token, compared with its stored hash in constant time.
 */
export function requireAdmin(ctx: ApiContext, request: ApiRequest): void {
  if (request.iam) {
    // Stryker disable next-line ArrayDeclaration: a list holding anything but roles admits nobody either
    if (isAdminPrincipal(request.iam.arn, ctx.adminRoles ?? [])) return;
    throw new ApiProblem(403, 'not-an-admin', 'Forbidden', `${request.iam.arn} is not one of the gateway's admin roles or a session of one`);
  }
  const token = bearerToken(request);
  if (token === undefined) throw unauthorized('this route needs the admin token: Authorization: Bearer gwa_...');
  if (!token.startsWith(ADMIN_TOKEN_PREFIX) || !secretMatches(token, ctx.adminTokenHash)) {
    throw unauthorized('the admin token is not valid');
  }
}

/** The EC2 instance id an IAM identity speaks for: the session name of an assumed instance role. */
export function instanceIdOf(arn: string): string | undefined {
  const match = /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/[^/]+\/(i-[0-9a-f]{8,17})$/.exec(arn);
  return match?.[1];
}

/**
 * Host routes: the host's own credential (or, behind API Gateway, the IAM identity of the node's
 * instance). Another host's credential is refused. The first successful use kills the host's
 * enrollment token for good.
 */
export async function requireHost(ctx: ApiContext, request: ApiRequest, hostId: string): Promise<HostRecord> {
  const token = bearerToken(request);
  if (token === undefined && !request.iam) throw unauthorized('this route needs the host credential: Authorization: Bearer gwh_...');
  const host = await ctx.store.getHost(hostId);
  if (request.iam && token === undefined) {
    const instanceId = instanceIdOf(request.iam.arn);
    if (!host || !instanceId || host.instanceId !== instanceId || host.status !== 'active') {
      throw new ApiProblem(403, 'forbidden', 'Forbidden', `the caller's identity is not host ${hostId}'s instance`);
    }
    return host;
  }
  if (!token || !token.startsWith(HOST_CREDENTIAL_PREFIX) || !host || !secretMatches(token, host.credentialHash)) {
    throw unauthorized(`the credential is not valid for host ${hostId}`);
  }
  // Stryker disable next-line ConditionalExpression: the store records only the first use (attribute_not_exists); this check only spares the write
  if (!host.credentialUsedAt) await ctx.store.markCredentialUsed(host, ctx.clock());
  return host;
}
