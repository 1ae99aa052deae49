import { EC2Client } from '@aws-sdk/client-ec2';
import { Ec2NodeVerifier } from '../src/api/ec2-node-verifier';
import { ApiProblem, problemResponse } from '../src/api';
import { NODE_REGISTER_ROUTES } from '../src/api/route-groups/node-register';
import { type RestApiEvent, type RestApiResult, toRestApiResult } from './shared/apigw';
import { apiGatewayHandler } from './shared/runtime';

/**
 * Only the fleets' instance roles may register, each as its own role: an assumed-role session of
 * any other role could carry an instance id as its session name. Reads the fixed role names the
 * stack sets (LIGHTHOUSE_ROLE_NAME, PROXY_ROLE_NAME, EGRESS_ROLE_NAME); the API then checks the
 * instance with EC2.
 */
export function fleetRoleGuard(env: NodeJS.ProcessEnv): (event: RestApiEvent) => RestApiResult | undefined {
  return (event) => {
    const fleets = new Map([
      [env.LIGHTHOUSE_ROLE_NAME, 'lighthouse'],
      [env.PROXY_ROLE_NAME, 'proxy'],
      [env.EGRESS_ROLE_NAME, 'egress'],
    ]);
    const arn = event.requestContext.identity?.userArn ?? '';
    const roleName = /^arn:aws[a-z-]*:sts::\d{12}:assumed-role\/([^/]+)\/[^/]+$/.exec(arn)?.[1];
    const fleet = roleName === undefined ? undefined : fleets.get(roleName);
    if (!fleet) return forbidden("the caller is not a lighthouse, proxy or egress instance role");
    const requested = requestedRole(event);
    if (requested !== undefined && requested !== fleet) return forbidden(`a ${fleet} instance cannot register as a ${requested}`);
    return undefined;
  };
}

function requestedRole(event: RestApiEvent): string | undefined {
  try {
    const text = event.body ? Buffer.from(event.body, event.isBase64Encoded ? 'base64' : 'utf8').toString('utf8') : '';
    const role = (JSON.parse(text) as { role?: unknown }).role;
    return typeof role === 'string' ? role : undefined;
  } catch {
    return undefined; // the API answers malformed bodies with a 400 naming the field
  }
}

function forbidden(detail: string): RestApiResult {
  return toRestApiResult(problemResponse(new ApiProblem(403, 'forbidden', 'Forbidden', detail)));
}

function verifierFromEnvironment(env: NodeJS.ProcessEnv): Ec2NodeVerifier {
  const [key, value] = (env.FLEET_TAG_NETWORK ?? '').split('=');
  if (!key || !value || !env.FLEET_TAG_ROLE) throw new Error('FLEET_TAG_NETWORK and FLEET_TAG_ROLE must be set');
  return new Ec2NodeVerifier({ client: new EC2Client({}), networkTag: { key, value }, roleTagKey: env.FLEET_TAG_ROLE });
}

/** POST /v1/nodes/register: IAM-authorized at API Gateway; the caller's instance checked with EC2; signs. */
export const handler = apiGatewayHandler({
  routes: NODE_REGISTER_ROUTES,
  iamAuthorized: true,
  guard: fleetRoleGuard(process.env),
  nodeVerifier: () => verifierFromEnvironment(process.env),
});
