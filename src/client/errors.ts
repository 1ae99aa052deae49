/** One failing input as the API names it (`groups[1]`, `owner.subject`, `port`). */
export interface ProblemField {
  readonly field: string;
  readonly message: string;
}

/** The API refused the request: its status and, from its problem+json body, what and why. */
export class GatewayApiError extends Error {
  override readonly name = 'GatewayApiError';

  constructor(
    readonly status: number,
    readonly title: string,
    readonly detail: string,
    readonly fields: readonly ProblemField[] = [],
  ) {
    super([`${status} ${title}: ${detail}`, ...fields.map((f) => `  ${f.field}: ${f.message}`)].join('\n'));
  }
}

/** The request did not get an answer (connection refused, TLS, DNS, credentials). */
export class GatewayRequestError extends Error {
  override readonly name = 'GatewayRequestError';
}

/** Longest piece of a non-problem body shown in an error. */
const MAX_SHOWN = 200;

/**
 * A GatewayApiError from a non-2xx answer. A problem+json body gives title, detail and fields;
 * anything else (API Gateway's own answers, a proxy's HTML) gives its `message` or text, cut at the
 * first line break: AWS's signature-mismatch message goes on to echo the signed headers.
 */
export function apiErrorOf(status: number, statusText: string, contentType: string, text: string): GatewayApiError {
  let body: unknown;
  if (/json/i.test(contentType)) {
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
  }
  const b = (body ?? {}) as { title?: unknown; detail?: unknown; errors?: unknown; message?: unknown; Message?: unknown };
  if (typeof b.title === 'string' && typeof b.detail === 'string') {
    const fields = Array.isArray(b.errors)
      ? b.errors.filter((e): e is ProblemField => typeof e?.field === 'string' && typeof e?.message === 'string').map(({ field, message }) => ({ field, message }))
      : [];
    return new GatewayApiError(status, b.title, b.detail, fields);
  }
  const message = typeof b.message === 'string' ? b.message : typeof b.Message === 'string' ? b.Message : body === undefined ? text : '';
  const shown = message.split(/\r?\n/)[0].trim().slice(0, MAX_SHOWN);
  return new GatewayApiError(status, statusText || 'Error', shown || '(no explanation in the answer)');
}
