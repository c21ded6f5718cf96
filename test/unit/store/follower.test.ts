/** StoreFollower: a copy whose re-read failed says so and retries until one succeeds (no further announcement needed). */
import { ChangeFeed, StoreFollower } from '../../../src/store';

const waitFor = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 500 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

describe('StoreFollower', () => {
  test('a failed re-read makes it behind and is retried until one succeeds; then it is current again', async () => {
    const feed = new ChangeFeed();
    let failures = 2;
    let reads = 0;
    const follower = new StoreFollower(
      feed,
      ['keys'],
      async () => {
        reads++;
        if (failures-- > 0) throw new Error('canceling statement due to statement timeout');
        return Promise.resolve();
      },
      'the keys',
      { retryMs: 1, maxRetryMs: 4 },
    );
    try {
      feed.emit('keys');
      expect(follower.pending()).toBeDefined(); // at once: a reader waits for it
      await follower.pending();
      expect(follower.behind()).toMatch(/the keys could not be re-read after a change \(canceling statement.*\); retrying/);
      await waitFor(() => follower.behind() === undefined);
      expect(reads).toBe(3); // two failures, one success: retried with no announcement in between
      expect(follower.pending()).toBeUndefined();
    } finally {
      follower.close();
    }
  });

  test('announcements of other kinds are not followed; `all` is', async () => {
    const feed = new ChangeFeed();
    let reads = 0;
    const follower = new StoreFollower(
      feed,
      ['policy'],
      () => {
        reads++;
        return Promise.resolve();
      },
      'the policy',
    );
    try {
      feed.emit('keys');
      feed.emit('tokens');
      expect(follower.pending()).toBeUndefined();
      feed.emit('all');
      await follower.pending();
      feed.emit('policy');
      await follower.pending();
      expect(reads).toBe(2);
    } finally {
      follower.close();
    }
  });

  test('closed, it neither follows nor retries', async () => {
    const feed = new ChangeFeed();
    let reads = 0;
    const follower = new StoreFollower(
      feed,
      ['keys'],
      () => {
        reads++;
        return Promise.reject(new Error('down'));
      },
      'the keys',
      { retryMs: 1 },
    );
    feed.emit('keys');
    await follower.pending();
    follower.close();
    await new Promise((r) => setTimeout(r, 30));
    feed.emit('keys');
    expect(reads).toBe(1);
  });
});
