/**
 * The lock ReferrerStore holds around each read-modify-write of a subject's fallback index.
 * The registry layer owns this interface; the default serializes writers inside this process
 * only (the keyed mutex), src/coordination/ provides one that serializes them across replicas
 * (PostgreSQL advisory locks, when `store.url` is set) and src/cluster/ one that serializes the
 * workers of `serve --workers N` (held by their primary). The composition root picks one.
 */
import { KeyedMutex } from './keyed-mutex';

export interface WriteLock {
  /**
   * Runs `fn` while holding the lock for `key`, callers of one key one after another. Throws
   * CountersignError('UNAVAILABLE') when the lock cannot be had (without running `fn`).
   */
  run<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T>;
}

/** What the holder can ask about the lock while it runs. */
export interface HeldLock {
  /**
   * True while every other process is still excluded: ReferrerStore then skips the settle delay
   * of its cross-process protocol (no other Countersign writer can be between its read and its
   * write; it still reads back). Turns false when a cross-process lock may have been lost (its
   * database session died: the server released it), and the holder falls back to the protocol
   * that does not rely on it.
   */
  readonly exclusiveAcrossProcesses: boolean;
}

/** Serializes the writers of one key inside this process (the default: one replica). */
export class InProcessWriteLock implements WriteLock {
  private readonly mutex = new KeyedMutex();
  private readonly held: HeldLock;

  /**
   * `soleWriter`: the operator declared this process the only writer of the keys
   * (`registry.exclusiveReferrerWrites` with one process), so excluding the writers of this
   * process excludes every writer. Default false: another process may write between our read
   * and our write, and the holder keeps its cross-process protocol.
   */
  constructor(opts: { soleWriter?: boolean } = {}) {
    this.held = { exclusiveAcrossProcesses: opts.soleWriter ?? false };
  }

  run<T>(key: string, fn: (held: HeldLock) => Promise<T>): Promise<T> {
    return this.mutex.run(key, () => fn(this.held));
  }
}
