import type { Database, Statement } from './database';

/**
 * Tells an in-memory copy of stored state whether ANOTHER connection (another process on the
 * same data directory: the `countersign token`/`key` CLI, a second instance) has committed since
 * it last looked, at the cost of one cached `PRAGMA data_version` read, done at most once every
 * `intervalMs` (so a hot path pays a clock read, not a SQLite call, on most calls).
 *
 * SQLite changes `data_version` only for commits made through other connections; changes made
 * through this connection are the caller's to notice (every store here invalidates its copy in
 * the method that writes), which is why this is enough for correctness.
 *
 * `intervalMs` bounds how late a change from another process is seen (0: checked on every call).
 */
export class ChangeWatch {
  private readonly stmt: Statement;
  private readonly intervalMs: number;
  private readonly clock: () => number;
  private last: unknown;
  private checkedAt = -Infinity;

  constructor(db: Database, intervalMs: number, clock: () => number = Date.now) {
    this.intervalMs = intervalMs;
    this.clock = clock;
    this.stmt = db.prepare('PRAGMA data_version');
    this.last = this.read();
    this.checkedAt = this.clock();
    LIVE.add(new WeakRef(this));
  }

  /**
   * Makes the next changed() read data_version and report a change whatever it finds: another
   * process told us it wrote (`serve --workers`: the worker that wrote, through the primary), so
   * the in-memory copy is re-read on its next use instead of up to `intervalMs` later.
   */
  markStale(): void {
    this.checkedAt = -Infinity;
    this.last = STALE;
  }

  /** True when another connection committed since the last call that returned true (or since creation). */
  changed(): boolean {
    const now = this.clock();
    if (this.intervalMs > 0 && now - this.checkedAt < this.intervalMs) return false;
    this.checkedAt = now;
    const v = this.read();
    if (v === this.last) return false;
    this.last = v;
    return true;
  }

  private read(): unknown {
    return this.stmt.get()?.data_version;
  }
}

/** Never a data_version: after markStale(), the next read always differs. */
const STALE = Symbol('stale');
/** Every watch of this process (weakly: a closed store's watch goes with it). */
const LIVE = new Set<WeakRef<ChangeWatch>>();

/** markStale() on every ChangeWatch of this process (a change notice from another process). */
export function markAllChangeWatchesStale(): void {
  for (const ref of LIVE) {
    const watch = ref.deref();
    if (watch) watch.markStale();
    else LIVE.delete(ref);
  }
}
