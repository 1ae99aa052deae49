import { compareRequests, compareResponses, DifferentialHarness } from './harness';
import { loadCorpus } from './corpus';
import { generatedCases, runCases } from './run';

/**
 * The proxy's HTTP/1.1 strictness, proven against llhttp (Node's parser, strict): every case in
 * the corpus (each once made the proxy fail), then a bounded seeded run of fresh cases.
 * `npm run fuzz -- --seconds N` runs the same fuzzer for longer and grows the corpus.
 */

const SEED = 20261202;
const CASES = 2400;

describe('differential fuzzing: gateway proxy against llhttp', () => {
  const harness = new DifferentialHarness();

  beforeAll(() => harness.start());
  afterAll(() => harness.close());

  it('replays every case that ever failed', async () => {
    const corpus = loadCorpus();
    expect(corpus.length).toBeGreaterThan(0);
    const stats = await runCases(harness, corpus.map((c, i) => ({ ...c, label: `corpus line ${i + 1}` })));
    expect(stats.failures.map((f) => `${f.found}\n  ${JSON.stringify(f.bytes)}`)).toEqual([]);
    expect(stats.requests + stats.responses).toBe(corpus.length);
  }, 120_000);

  it(`passes ${CASES} generated cases from seed ${SEED}`, async () => {
    const stats = await runCases(harness, generatedCases(SEED, harness.requestHost, CASES), { lanes: 8 });
    expect(stats.failures.map((f) => `${f.found}\n  ${JSON.stringify(f.bytes)}`)).toEqual([]);
    expect(stats.requests + stats.responses).toBe(CASES);
    // Not vacuous: many cases really went through (a proxy refusing everything would pass the checks).
    expect(stats.forwarded).toBeGreaterThan(stats.requests / 5);
    expect(stats.relayed).toBeGreaterThan(stats.responses / 5);
  }, 180_000);
});

describe('the differential checks themselves', () => {
  const host = 'h.test';

  it('fail when the environment frames a request llhttp did not, or another body', () => {
    const llhttp = { messages: [{ method: 'POST', url: '/', body: 'hello' }] };
    expect(compareRequests(llhttp, { messages: [{ method: 'POST', url: '/', body: 'hello' }], errors: [] }, host).ok).toBe(true);
    // The proxy may answer a request itself and forward the next one.
    const two = { messages: [{ method: 'GET', url: '/a', body: '' }, { method: 'GET', url: '/b', body: '' }] };
    expect(compareRequests(two, { messages: [{ method: 'GET', url: '/b', body: '' }], errors: [] }, host).ok).toBe(true);
    // Smuggled: a body read as a second request.
    const smuggled = { messages: [{ method: 'POST', url: '/', body: '' }, { method: 'GET', url: '/admin', body: '' }], errors: [] };
    expect(compareRequests(llhttp, smuggled, host)).toMatchObject({ ok: false });
    expect(compareRequests(llhttp, { messages: [{ method: 'POST', url: '/', body: 'hel' }], errors: [] }, host)).toMatchObject({ ok: false });
    expect(compareRequests({ messages: [], error: 'HPE_INVALID_METHOD' }, { messages: [{ method: 'GET', url: '/' }], errors: [] }, host)).toMatchObject({ ok: false });
    expect(compareRequests(llhttp, { messages: [], errors: ['the environment refused it'] }, host)).toMatchObject({ ok: false });
    // An absolute-form target reaches the environment in origin-form.
    const absolute = { messages: [{ method: 'GET', url: 'http://h.test/x?y', body: '' }] };
    expect(compareRequests(absolute, { messages: [{ method: 'GET', url: '/x?y', body: '' }], errors: [] }, host).ok).toBe(true);
  });

  it('fail when a response llhttp refuses, or reads otherwise, gets through', () => {
    const ok = { status: 200, headers: ['x-a', '1'], body: 'hi', complete: true, finals: 1 };
    expect(compareResponses(ok, ok).ok).toBe(true);
    expect(compareResponses({ complete: false, finals: 0, error: 'HPE_INVALID_CONTENT_LENGTH' }, ok)).toMatchObject({ ok: false });
    expect(compareResponses(ok, { ...ok, body: 'h' })).toMatchObject({ ok: false });
    expect(compareResponses(ok, { ...ok, headers: ['x-a', '2'] })).toMatchObject({ ok: false });
    expect(compareResponses(ok, { ...ok, finals: 2 })).toMatchObject({ ok: false });
    expect(compareResponses(ok, { complete: false, finals: 0, error: 'HPE_INVALID_CHUNK_SIZE' })).toMatchObject({ ok: false });
    // The proxy's own 502, or a dropped connection, is always allowed.
    const refusal = { status: 502, headers: ['content-security-policy', "default-src 'none'"], body: '', complete: true, finals: 1 };
    expect(compareResponses({ complete: false, finals: 0, error: 'HPE_INVALID_CONSTANT' }, refusal).ok).toBe(true);
    expect(compareResponses(ok, { complete: false, finals: 0, error: 'HPE_INVALID_EOF_STATE' }).ok).toBe(true);
  });
});
