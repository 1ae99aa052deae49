/** Where and how often the agent asks for its config: pure decisions, tested on their own. */

/** Polling the API while the watch endpoint is down. @default every 5 min, jittered */
export const DEFAULT_FALLBACK_POLL_MS = 5 * 60_000;

/** Retrying a failed watch endpoint (full jitter): soon at first, at most once a minute. */
export const DEFAULT_WATCH_BACKOFF = { baseMs: 1000, capMs: 60_000 } as const;

/** A watch answered "not modified" sooner than this is not re-issued sooner (a watch URL that does not hold requests must not spin). */
export const MIN_WATCH_ROUND_MS = 1000;

/**
 * The watch URL the agent may use, or why not: it must be http(s), and must not downgrade an
 * https API to plain http (the credential travels with every watch request). A local gateway
 * listening on every interface names itself 0.0.0.0 (or [::]): the agent then watches the host
 * it reaches the API by, on the watch URL's port.
 */
export function watchTarget(api: string, watchUrl: string | undefined): { url?: string; refused?: string } {
  if (watchUrl === undefined) return {};
  let url: URL;
  try {
    url = new URL(watchUrl);
  } catch {
    return { refused: 'not a URL' };
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return { refused: `${url.protocol} is not http(s)` };
  const apiUrl = new URL(api);
  if (apiUrl.protocol === 'https:' && url.protocol !== 'https:') return { refused: 'the API is https and the watch URL is not' };
  if (url.hostname === '0.0.0.0' || url.hostname === '[::]') url.hostname = apiUrl.hostname;
  return { url: url.toString() };
}

/** The next fallback poll: `intervalMs` give or take a quarter, so a fleet that lost the watch at once spreads out. */
export function fallbackDelay(intervalMs: number, random: () => number = Math.random): number {
  return Math.floor(intervalMs * (0.75 + random() * 0.5));
}
