import { KeyedMutex } from '../../../src/registry/keyed-mutex';

const tick = (ms = 1): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('KeyedMutex', () => {
  test('serializes holders of the same key, in arrival order', async () => {
    const m = new KeyedMutex();
    let inside = 0;
    let maxInside = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        m.run('k', async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await tick(Math.random() * 3);
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(1);
    expect(order).toEqual(Array.from({ length: 20 }, (_, i) => i));
  });

  test('a lost update without the mutex, none with it', async () => {
    // read-modify-write with an await in between, as the referrers index update does.
    const run = async (m?: KeyedMutex): Promise<number> => {
      let value = 0;
      const update = async (): Promise<void> => {
        const read = value;
        await tick();
        value = read + 1;
      };
      await Promise.all(Array.from({ length: 10 }, () => (m ? m.run('k', update) : update())));
      return value;
    };
    expect(await run()).toBeLessThan(10);
    expect(await run(new KeyedMutex())).toBe(10);
  });

  test('different keys run concurrently', async () => {
    const m = new KeyedMutex();
    let inside = 0;
    let maxInside = 0;
    await Promise.all(
      ['a', 'b', 'c'].map((k) =>
        m.run(k, async () => {
          inside++;
          maxInside = Math.max(maxInside, inside);
          await tick(5);
          inside--;
        }),
      ),
    );
    expect(maxInside).toBe(3);
  });

  test('a failing holder releases the lock, returns values, and keys are forgotten when idle', async () => {
    const m = new KeyedMutex();
    const failing = m.run('k', async () => {
      throw new Error('boom');
    });
    const next = m.run('k', async () => 42);
    await expect(failing).rejects.toThrow('boom');
    await expect(next).resolves.toBe(42);
    expect(m.size).toBe(0);
  });
});
