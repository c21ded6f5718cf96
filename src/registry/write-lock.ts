/**
 * The lock ReferrerStore holds around each read-modify-write of a subject's fallback index.
 * The registry layer owns this interface; the default serializes writers inside this process
 * only (the keyed mutex), and src/coordination/ provides one that serializes them across
 * replicas (PostgreSQL advisory locks), wired in by the composition root when `store.url` is set.
 */
import { KeyedMutex } from './keyed-mutex';

export interface WriteLock {
  /**
   * True when holders in every process sharing the registry are excluded, not only in this one.
   * ReferrerStore then skips the settle delay of its cross-process protocol (no other
   * Countersign writer can be between its read and its write); it still reads back.
   */
  readonly acrossProcesses: boolean;
  /**
   * Runs `fn` while holding the lock for `key`, callers of one key one after another. Throws
   * CountersignError('UNAVAILABLE') when the lock cannot be had (without running `fn`).
   */
  run<T>(key: string, fn: () => Promise<T>): Promise<T>;
}

/** Serializes the writers of one key inside this process (the default: one replica). */
export class InProcessWriteLock implements WriteLock {
  readonly acrossProcesses = false;
  private readonly mutex = new KeyedMutex();

  run<T>(key: string, fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(key, fn);
  }
}
