/**
 * An in-memory copy of stored state following the store's announcements (store-changes.ts): a
 * re-read on each announcement of its kinds, coalesced (Refresher), and two facts for whoever
 * reads the copy:
 *
 * - `pending()`: a re-read of an announced change is under way (the copy may predate it), so a
 *   reader that must not act on a revoked key waits for it, rather than failing (every replica
 *   would otherwise deny for a moment after every key change) or answering from the old copy.
 * - `behind()`: the last re-read failed (a cancelled query, a lock held past a statement timeout,
 *   the database gone), so the copy may miss a change: the announcement that failed is the only
 *   one that change ever gets. The follower retries, with backoff, until a re-read succeeds;
 *   until then the copy is not current and says so.
 */
import { Refresher } from './refresher';
import type { ChangeKind, StoreChanges } from './store-changes';

export interface StoreFollowerOptions {
  /** First wait before retrying a failed re-read (doubled each time); default 250 ms. */
  retryMs?: number;
  /** Longest wait between retries; default 5 s. */
  maxRetryMs?: number;
}

export class StoreFollower {
  private readonly refresher: Refresher;
  private readonly unsubscribe: () => void;
  private running: Promise<void> | undefined;
  private problem: string | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private closed = false;
  private readonly what: string;
  private readonly options: StoreFollowerOptions;

  constructor(
    changes: StoreChanges,
    kinds: readonly ChangeKind[],
    refresh: () => Promise<void>,
    what: string,
    options: StoreFollowerOptions = {},
  ) {
    this.what = what;
    this.options = options;
    this.refresher = new Refresher(refresh);
    this.retryMs = options.retryMs ?? 250;
    this.unsubscribe = changes.subscribe((signal) => {
      if (signal === 'all' || kinds.includes(signal)) this.request().catch(() => undefined);
    });
  }

  /**
   * Re-reads now (coalesced with one already queued); resolves once a re-read that started after
   * this call is done, rejects with its error. Either way the follower's state says where it is.
   */
  request(): Promise<void> {
    const run = this.refresher.request();
    this.running = run;
    run.then(
      () => {
        if (this.running === run) this.running = undefined;
        this.problem = undefined;
        this.retryMs = this.options.retryMs ?? 250;
      },
      (err: unknown) => {
        if (this.running === run) this.running = undefined;
        this.problem = `${this.what} could not be re-read after a change (${err instanceof Error ? err.message : String(err)}); retrying`;
        this.scheduleRetry();
      },
    );
    return run;
  }

  /** The re-read under way, if any (it covers every announcement so far); never rejects. */
  pending(): Promise<void> | undefined {
    return this.running?.catch(() => undefined);
  }

  /** Why the copy may miss a change (its last re-read failed), else undefined. */
  behind(): string | undefined {
    return this.problem;
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.retryTimer) clearTimeout(this.retryTimer);
  }

  private scheduleRetry(): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.retryMs;
    this.retryMs = Math.min(delay * 2, this.options.maxRetryMs ?? 5000);
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (!this.closed) this.request().catch(() => undefined);
    }, delay);
    this.retryTimer.unref();
  }
}
