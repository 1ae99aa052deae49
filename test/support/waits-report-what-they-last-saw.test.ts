import { isConnectionRefusal, waitUntil, WaitTimeoutError } from './wait';

// The rule for every polling wait in the tests: its own deadline, which only bounds the wait, and
// on timeout a message saying what it waited for and what it last saw; only expected errors retried.
describe('waitUntil', () => {
  it('resolves with the first value that satisfies the condition', async () => {
    let n = 0;
    await expect(waitUntil('n to reach 3', () => ++n, (v) => v >= 3, { intervalMs: 1 })).resolves.toBe(3);
  });

  it('on timeout names what it waited for and the last value it saw', async () => {
    let n = 0;
    const waiting = waitUntil('the counter to reach 1000', () => ({ n: ++n }), (v) => v.n >= 1000, { timeoutMs: 30, intervalMs: 5 });
    await expect(waiting).rejects.toThrow(WaitTimeoutError);
    await expect(waitUntil('the counter to reach 1000', () => ({ n: 7 }), () => false, { timeoutMs: 10, intervalMs: 5 })).rejects.toThrow(
      'still waiting for the counter to reach 1000 after 10 ms; last saw { n: 7 }',
    );
  });

  it('fails at once on an error it was not told to expect', async () => {
    let calls = 0;
    const boom = new Error('probe broke');
    const waiting = waitUntil(
      'anything',
      () => {
        calls++;
        throw boom;
      },
      () => true,
      { timeoutMs: 5_000, intervalMs: 1 },
    );
    await expect(waiting).rejects.toBe(boom);
    expect(calls).toBe(1);
  });

  it('retries expected errors and reports the last one, as the cause, on timeout', async () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' });
    const waiting = waitUntil(
      'the server to listen',
      () => {
        throw refused;
      },
      () => true,
      { timeoutMs: 20, intervalMs: 5, retryOn: isConnectionRefusal },
    );
    const error = await waiting.catch((err: unknown) => err as WaitTimeoutError);
    expect(error.message).toBe('still waiting for the server to listen after 20 ms; last error: Error: connect ECONNREFUSED 127.0.0.1:9');
    expect(error.cause).toBe(refused);
  });

  it('a probe that recovers from an expected error resolves', async () => {
    let n = 0;
    const probe = () => {
      if (++n < 3) throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
      return 'up';
    };
    await expect(waitUntil('the server', probe, (v) => v === 'up', { intervalMs: 1, retryOn: isConnectionRefusal })).resolves.toBe('up');
  });

  it('isConnectionRefusal looks through causes (fetch wraps the socket error) and nothing else', () => {
    const wrapped = new TypeError('fetch failed', { cause: Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }) });
    expect(isConnectionRefusal(wrapped)).toBe(true);
    expect(isConnectionRefusal(Object.assign(new Error('x'), { code: 'EACCES' }))).toBe(false);
    expect(isConnectionRefusal('ECONNREFUSED')).toBe(false);
  });
});
