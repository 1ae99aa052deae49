/**
 * The change feed on its own: what wakes which waiter. The store is a function here (the feed's
 * only dependency); the feed against DynamoDB is in multi-instance.test.ts and
 * test/server/changes-reach-every-process.test.ts.
 */
import { ChangeFeed } from '../../src/api/change-feed';

describe('change feed', () => {
  it('wakes only the waiters whose version is behind the polled one; reads once per poll, not per waiter', async () => {
    let version = 1;
    let reads = 0;
    const feed = new ChangeFeed(async () => {
      reads++;
      return version;
    }, 20);
    const current = Array.from({ length: 50 }, (_, i) => feed.wait(`h-${i}`, 1, 10_000));
    const behind = feed.wait('h-behind', 0, 10_000);
    expect(await behind).toBe('changed');
    expect(feed.waiting).toBe(50);
    const readsBefore = reads;
    version = 2;
    expect(await Promise.all(current)).toEqual(Array(50).fill('changed'));
    expect(reads - readsBefore).toBeLessThanOrEqual(2);
    expect(feed.waiting).toBe(0);
    feed.close();
  });

  it("wakes a host's own waiters with 'host', and every waiter on a network change", async () => {
    const feed = new ChangeFeed(async () => 1, 60_000);
    const a = feed.wait('h-a', 1, 10_000);
    const b = feed.wait('h-b', 1, 10_000);
    feed.notifyHost('h-a');
    expect(await a).toBe('host');
    expect(feed.waiting).toBe(1);
    feed.notifyNetwork();
    expect(await b).toBe('changed');
  });

  it('ends a wait on timeout and on abort, and close() ends every wait', async () => {
    const feed = new ChangeFeed(async () => 1, 60_000);
    expect(await feed.wait('h-t', 1, 10)).toBe('timeout');
    const controller = new AbortController();
    const aborted = feed.wait('h-x', 1, 10_000, controller.signal);
    controller.abort();
    expect(await aborted).toBe('aborted');
    const open = feed.wait('h-y', 1, 10_000);
    feed.close();
    expect(await open).toBe('aborted');
    expect(feed.waiting).toBe(0);
  });

  it('keeps polling after a version read that never answers', async () => {
    let calls = 0;
    const feed = new ChangeFeed(() => (++calls === 1 ? new Promise<number>(() => undefined) : Promise.resolve(2)), 20);
    expect(await feed.wait('h-z', 1, 20_000)).toBe('changed');
    expect(calls).toBeGreaterThanOrEqual(2);
    feed.close();
  }, 15_000);
});
