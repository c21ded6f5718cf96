/**
 * An in-process async mutex per key. Registries that ignore `If-Match` (Distribution 2.8, among
 * others) give us no way to make a read-modify-write of the referrers tag atomic, so concurrent
 * updates from this process are serialized here instead: callers for the same key run one after
 * another in arrival order; different keys do not wait for each other.
 *
 * This cannot protect against other processes; the referrer store re-reads after writing for that.
 */
export class KeyedMutex {
  /** Tail of the queue per key: the promise the next caller must wait for. */
  private readonly tails = new Map<string, Promise<void>>();

  /** Runs `fn` once every earlier holder of `key` has finished (successfully or not). */
  async run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    const previous = this.tails.get(key) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => {
      release = resolve;
    });
    const tail = previous.then(() => mine);
    this.tails.set(key, tail);
    await previous;
    try {
      return await fn();
    } finally {
      release();
      // Forget the key once nobody is queued behind us, so the map does not grow without bound.
      if (this.tails.get(key) === tail) this.tails.delete(key);
    }
  }

  /** Number of keys with a holder or waiters (for tests and metrics). */
  get size(): number {
    return this.tails.size;
  }
}
