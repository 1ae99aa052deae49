import type { GatewayStore } from '../../src/api';
import { startSweeper } from '../../src/server/sweeper';

describe('the periodic sweep', () => {
  test('runs the store sweep on every tick, one at a time, reports failures, and stop() waits for a running sweep', async () => {
    let running = 0;
    let overlapped = false;
    let calls = 0;
    const errors: string[] = [];
    // A stand-in for the store's sweep (the real one is exercised against DynamoDB Local in test/api).
    const store = {
      async sweep() {
        calls++;
        if (running > 0) overlapped = true;
        running++;
        await new Promise((r) => setTimeout(r, 30));
        running--;
        if (calls === 2) throw new Error('store unavailable');
        return { expiredRevocations: 0, releasedAddresses: 0 };
      },
    } as unknown as GatewayStore;
    const sweeper = startSweeper({ store, clock: () => new Date(), intervalMs: 10, onError: (err) => errors.push(err.message) });
    while (calls < 4) await new Promise((r) => setTimeout(r, 10));
    await sweeper.stop();
    const after = calls;
    await new Promise((r) => setTimeout(r, 50));
    expect(calls).toBe(after);
    expect(running).toBe(0);
    expect(overlapped).toBe(false);
    expect(errors).toEqual(['store unavailable']);
  });
});
