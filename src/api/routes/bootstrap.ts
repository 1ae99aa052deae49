import { AgentBundleError, type AgentBundle, loadAgentBundle } from '../../bootstrap/agent-bundle';
import { ApiUrlError, bootstrapApiUrl } from '../../bootstrap/api-url';
import { renderBootstrapScript } from '../../bootstrap/script';
import { printable } from '../../mesh/ipv4';
import type { ApiContext } from '../context';
import { etagOf, ifNoneMatchMatches } from '../etag';
import type { ApiRequest, ApiResponse } from '../http';
import { ApiProblem, notFound, validationProblem } from '../problem';

/** How long a client or cache may reuse a script: it pins one agent version, so an upgrade reaches new environments within this. */
const SCRIPT_MAX_AGE_SECONDS = 300;

/** `GET /v1/bootstrap`: the environment bootstrap script (src/bootstrap/script.ts), with this API's URL and the agent bundle's SHA-256 pinned. */
export async function getBootstrap(ctx: ApiContext, request: ApiRequest): Promise<ApiResponse> {
  const bundle = agentBundle(ctx);
  let apiUrl: string;
  try {
    apiUrl = bootstrapApiUrl(request.headers, ctx.settings.publicUrl);
  } catch (err) {
    if (err instanceof ApiUrlError) throw validationProblem([{ field: 'host', message: err.message }]);
    throw err;
  }
  const script = renderBootstrapScript({ apiUrl, version: bundle.version, agentUrl: `${apiUrl}/v1/agent/${bundle.fileName}`, sha256: bundle.sha256 });
  return cacheable(request, script, etagOf(script), {
    'content-type': 'text/x-shellscript; charset=utf-8',
    'cache-control': `public, max-age=${SCRIPT_MAX_AGE_SECONDS}`,
    // The script names the URL it was fetched from.
    vary: 'Host, X-Forwarded-Proto',
  });
}

/** `GET /v1/agent/{file}`: the agent bundle under its immutable name `<version>-<sha256 prefix>.js`. */
export async function getAgent(ctx: ApiContext, request: ApiRequest, file: string): Promise<ApiResponse> {
  const bundle = agentBundle(ctx);
  if (file !== bundle.fileName) throw notFound(`no agent bundle ${printable(file)}: this gateway serves ${bundle.fileName} (fetch /v1/bootstrap again)`);
  return cacheable(request, bundle.content, `"${bundle.sha256}"`, {
    'content-type': 'text/javascript; charset=utf-8',
    'cache-control': 'public, max-age=31536000, immutable',
  });
}

function cacheable(request: ApiRequest, body: string, etag: string, headers: Record<string, string>): ApiResponse {
  const all = { ...headers, etag, 'x-content-type-options': 'nosniff' };
  if (ifNoneMatchMatches(request.headers['if-none-match'], etag)) return { status: 304, headers: all, body: '' };
  return { status: 200, headers: all, body };
}

function agentBundle(ctx: ApiContext): AgentBundle {
  let bundle: AgentBundle | undefined;
  try {
    bundle = loadAgentBundle(ctx.settings.agentBundlePath);
  } catch (err) {
    if (err instanceof AgentBundleError) throw new ApiProblem(503, 'agent-bundle-invalid', 'Agent bundle unusable', err.message);
    throw err;
  }
  if (!bundle) {
    throw new ApiProblem(503, 'agent-bundle-missing', 'Agent bundle not built', 'this gateway has no agent bundle (gateway-agent.js); in a checkout, run npm run build');
  }
  return bundle;
}
