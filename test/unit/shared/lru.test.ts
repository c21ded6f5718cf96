import { LruMap } from '../../../src/shared/lru';

describe('LruMap', () => {
  test('small capacities are exact LRU: a get protects the key from the next eviction', () => {
    const m = new LruMap<string, number>(3);
    m.set('a', 1);
    m.set('b', 2);
    m.set('c', 3);
    expect(m.get('a')).toBe(1);
    m.set('d', 4); // evicts b, the least recently used
    expect(m.get('b')).toBeUndefined();
    expect([m.get('a'), m.get('c'), m.get('d')]).toEqual([1, 3, 4]);
    expect(m.size).toBe(3);
  });

  test('a key used recently is never the one evicted, even when its get did not move it', () => {
    const capacity = 100;
    const m = new LruMap<number, number>(capacity);
    for (let i = 0; i < capacity; i++) m.set(i, i);
    // Key 99 is the newest: a get leaves it in place (within the slack), key 0 is moved.
    expect(m.get(99)).toBe(99);
    expect(m.get(0)).toBe(0);
    // 74 more insertions evict 1..74; 0 (used) and 99 (used) stay.
    for (let i = 100; i < 174; i++) m.set(i, i);
    expect(m.get(0)).toBe(0);
    expect(m.get(99)).toBe(99);
    expect(m.get(1)).toBeUndefined();
    expect(m.get(74)).toBeUndefined();
    expect(m.get(75)).toBe(75);
    expect(m.size).toBe(capacity);
  });

  test('without uses, the oldest insertion goes first; set replaces in place', () => {
    const m = new LruMap<string, number>(2);
    m.set('a', 1);
    m.set('a', 2);
    m.set('b', 3);
    m.set('c', 4);
    expect(m.get('a')).toBeUndefined();
    expect(m.get('b')).toBe(3);
    m.delete('b');
    expect(m.size).toBe(1);
    m.clear();
    expect(m.size).toBe(0);
    expect(() => new LruMap(0)).toThrow(/positive integer/);
  });
});
