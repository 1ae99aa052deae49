import { type CorpusCase, HOST_PLACEHOLDER } from './corpus';
import { requestCase, responseCase } from './generate';
import type { DifferentialHarness, Verdict } from './harness';

/** A case that failed: enough to replay it (the corpus entry) and to read what went wrong. */
export interface Failure extends CorpusCase {
  problem: string;
}

export interface FuzzStats {
  requests: number;
  responses: number;
  /** Requests the environment received, and responses a client received from the environment. */
  forwarded: number;
  relayed: number;
  failures: Failure[];
}

const HOST_UPPER = HOST_PLACEHOLDER.toUpperCase();

/** The case as stored: the harness's proxy host name (its port changes every run) as a placeholder. */
export function toCorpusBytes(bytes: string, host: string): string {
  return bytes.split(host).join(HOST_PLACEHOLDER).split(host.toUpperCase()).join(HOST_UPPER);
}

export function fromCorpusBytes(bytes: string, host: string): string {
  return bytes.split(HOST_PLACEHOLDER).join(host).split(HOST_UPPER).join(host.toUpperCase());
}

/**
 * Runs request and response cases through the harness, `lanes` at a time (request cases from
 * different lanes share the proxy's pooled connections to the environment, as visitors do).
 * Request verdicts are taken a few cases later, so a request that reaches the environment late
 * is still held against the case that sent it.
 */
export async function runCases(
  harness: DifferentialHarness,
  cases: Iterable<CorpusCase & { label: string }>,
  options: { lanes?: number; shouldStop?: () => boolean; onFailure?: (f: Failure) => void } = {},
): Promise<FuzzStats> {
  const stats: FuzzStats = { requests: 0, responses: 0, forwarded: 0, relayed: 0, failures: [] };
  const fail = (c: CorpusCase & { label: string }, problem: string) => {
    const failure: Failure = { kind: c.kind, bytes: toCorpusBytes(c.bytes, harness.requestHost), ...(c.method && { method: c.method }), found: `${c.found}: ${problem}`, problem };
    stats.failures.push(failure);
    options.onFailure?.(failure);
  };
  const iterator = cases[Symbol.iterator]();
  let responseIds = 0;
  const lane = async () => {
    const deferred: [CorpusCase & { label: string }, () => Verdict][] = [];
    /** The last cases that passed, checked once more at the end for requests that arrived late. */
    const recent: [CorpusCase & { label: string }, () => Verdict][] = [];
    const settle = (keep: number) => {
      while (deferred.length > keep) {
        const entry = deferred.shift()!;
        const verdict = entry[1]();
        stats.forwarded += verdict.passed;
        if (!verdict.ok) fail(entry[0], verdict.problem!);
        else recent.push(entry);
        if (recent.length > 50) recent.shift();
      }
    };
    for (;;) {
      if (options.shouldStop?.()) break;
      const next = iterator.next();
      if (next.done) break;
      const c = next.value;
      if (c.kind === 'request') {
        deferred.push([c, await harness.requestCase(Buffer.from(fromCorpusBytes(c.bytes, harness.requestHost), 'latin1'))]);
        stats.requests++;
        settle(3);
      } else {
        const verdict = await harness.responseCase(`c${responseIds++}`, Buffer.from(c.bytes, 'latin1'), c.method ?? 'GET');
        stats.responses++;
        stats.relayed += verdict.passed;
        if (!verdict.ok) fail(c, verdict.problem!);
      }
    }
    await new Promise((r) => setTimeout(r, 100));
    settle(0);
    await new Promise((r) => setTimeout(r, 200));
    for (const [c, check] of recent) {
      const verdict = check();
      if (!verdict.ok) fail(c, verdict.problem!);
    }
  };
  await Promise.all(Array.from({ length: options.lanes ?? 4 }, lane));
  for (const stray of harness.strays.splice(0)) {
    stats.failures.push({ kind: 'request', bytes: '', found: stray, problem: stray });
    options.onFailure?.(stats.failures.at(-1)!);
  }
  return stats;
}

/** Generated cases from `seed` on: three request cases to each response case. */
export function* generatedCases(seed: number, host: string, count = Infinity): Generator<CorpusCase & { label: string }> {
  for (let i = 0; i < count; i++) {
    const s = (seed + i) >>> 0;
    if (i % 4 === 3) {
      // One response case in eight answers a HEAD request.
      const method = i % 32 === 31 ? { method: 'HEAD' as const } : {};
      yield { kind: 'response', bytes: responseCase(s), ...method, found: `seed ${s}`, label: `response seed ${s}` };
    }
    else yield { kind: 'request', bytes: toCorpusBytes(requestCase(s, host), host), found: `seed ${s}`, label: `request seed ${s}` };
  }
}
