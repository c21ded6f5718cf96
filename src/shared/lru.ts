/**
 * A Map bounded to `capacity` entries that evicts the least recently used one (a get counts as a
 * use). Map keeps insertion order, so re-inserting on use makes the first key the oldest: no
 * cliff where a working set one entry above capacity empties the whole map.
 *
 * A hot key is not re-inserted on every get (a Map delete + set is most of a warm lookup's cost):
 * only when it has fallen more than `capacity / 4` uses behind the newest. Until then it is among
 * the most recent quarter, far from the eviction end, so the order is LRU up to that slack (and
 * exact for capacities under 4).
 */
export class LruMap<K, V> {
  private readonly map = new Map<K, Slot<V>>();
  private clock = 0;
  private readonly slack: number;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`LRU capacity must be a positive integer, got ${capacity}`);
    this.slack = recencySlack(capacity);
  }

  get(key: K): V | undefined {
    const slot = this.map.get(key);
    if (slot === undefined) return undefined;
    if (this.clock - slot.stamp > this.slack) {
      this.map.delete(key);
      slot.stamp = ++this.clock;
      this.map.set(key, slot);
    }
    return slot.value;
  }

  set(key: K, value: V): void {
    this.map.delete(key);
    this.map.set(key, { value, stamp: ++this.clock });
    if (this.map.size > this.capacity) this.map.delete(this.map.keys().next().value as K);
  }

  delete(key: K): void {
    this.map.delete(key);
  }

  clear(): void {
    this.map.clear();
  }

  get size(): number {
    return this.map.size;
  }
}

interface Slot<V> {
  value: V;
  /** The use counter when this slot was last moved to the newest end. */
  stamp: number;
}

/** How many uses a key may fall behind the newest before a get moves it back (see LruMap). */
export function recencySlack(capacity: number): number {
  return Math.floor(capacity / 4);
}
