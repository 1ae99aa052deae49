import * as z from 'zod/mini';
import { MAX_EGRESS_RULES, parseEgressRules, rulesOutsideRoutes, sortRules } from '../../mesh/egress-policy';
import { type EgressPolicyRecord, StateConflictError } from '../../store';
import { requireAdmin } from '../auth';
import type { ApiContext } from '../context';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, jsonResponse, validationProblem } from '../problem';
import { meshField, parseJsonBody, parsePathParam, principalFields } from '../validation';

const egressPolicyBody = z.strictObject({
  /** Optional; when given it must be the path's. */
  organization: z.optional(z.string()),
  rules: z.array(z.unknown()).check(z.maxLength(MAX_EGRESS_RULES, `must hold at most ${MAX_EGRESS_RULES} rules`)),
});

/** `GET /v1/egress-policies/{organization}`: the organisation's rules; never set, none (nothing allowed). */
export async function getEgressPolicy(ctx: ApiContext, request: ApiRequest, organizationText: string): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const organization = parsePathParam(organizationText, principalFields.organization, 'organization');
  const policy = (await ctx.store.getEgressPolicy(organization)) ?? { organization, rules: [], revision: 0 };
  return policyResponse(policy);
}

/**
 * `PUT /v1/egress-policies/{organization} {rules}`: replaces the organisation's rules. Each rule's
 * network must lie inside one of the network's egress routes (422 naming `rules[i].cidr`). With
 * `If-Match: "<revision>"` (`"0"`: never set; `*`: set before) the write happens only if the
 * policy is still at that revision (412 otherwise). Egress nodes apply it at their next poll of
 * `GET /v1/egress/rules`, without restarting nebula.
 */
export async function putEgressPolicy(ctx: ApiContext, request: ApiRequest, organizationText: string): Promise<ApiResponse> {
  requireAdmin(ctx, request);
  const organization = parsePathParam(organizationText, principalFields.organization, 'organization');
  const input = parseJsonBody(request.body, egressPolicyBody);
  if (input.organization !== undefined && input.organization !== organization) {
    throw validationProblem([{ field: 'organization', message: `is '${input.organization}' but the path names '${organization}'` }]);
  }
  const ifMatch = parseIfMatch(request.headers['if-match']);
  const rules = meshField(() => parseEgressRules(input.rules, 'rules'));
  const view = await ctx.views.current();
  const outside = rulesOutsideRoutes(rules, view.egressRoutes, 'rules');
  if (outside.length > 0) {
    const detail = outside.map((e) => `${e.field}: ${e.message}`).join('; ');
    throw new ApiProblem(422, 'outside-egress-routes', 'Unroutable destination', detail, outside);
  }
  const expectedRevision = ifMatch === '*' ? await currentRevision(ctx, organization) : ifMatch;
  let policy: EgressPolicyRecord;
  try {
    policy = await ctx.store.putEgressPolicy({ organization, rules: sortRules(rules), now: ctx.clock(), expectedRevision });
  } catch (err) {
    if (err instanceof StateConflictError) throw preconditionFailed(organization, request.headers['if-match'] as string);
    throw err;
  }
  ctx.logger?.info('egress policy set', { organization, rules: policy.rules.length, revision: policy.revision });
  return policyResponse(policy);
}

function policyResponse(policy: EgressPolicyRecord): ApiResponse {
  const body = { organization: policy.organization, rules: policy.rules, revision: policy.revision, ...(policy.updatedAt ? { updatedAt: policy.updatedAt } : {}) };
  return jsonResponse(200, body, { etag: `"${policy.revision}"` });
}

/** `*` for "exists", a revision for "at this revision", undefined for no header; 400 naming `if-match` otherwise. */
function parseIfMatch(header: string | undefined): number | '*' | undefined {
  if (header === undefined) return undefined;
  const text = header.trim();
  if (text === '*') return '*';
  const match = /^"(0|[1-9][0-9]{0,14})"$/.exec(text);
  if (!match) throw validationProblem([{ field: 'if-match', message: 'must be a revision this API returned as an ETag, such as "3", or *' }]);
  return Number(match[1]);
}

async function currentRevision(ctx: ApiContext, organization: string): Promise<number> {
  const policy = await ctx.store.getEgressPolicy(organization);
  if (!policy) throw preconditionFailed(organization, '*');
  return policy.revision;
}

function preconditionFailed(organization: string, ifMatch: string): ApiProblem {
  const detail = `the egress policy of ${organization} is not at ${ifMatch.trim()} any more (or was never set); read it again and retry`;
  return new ApiProblem(412, 'precondition-failed', 'Precondition failed', detail, [{ field: 'if-match', message: detail }]);
}
