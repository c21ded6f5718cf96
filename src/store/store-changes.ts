/**
 * How in-memory copies of stored state (the trust view of the keys, the bearer tokens) learn that
 * the store changed, whichever process changed it. One seam for both backends:
 *
 * - SQLite: this process's commits are announced as they happen; other processes' (the
 *   `countersign token` CLI, `serve --workers` siblings) are noticed through PRAGMA data_version
 *   (ChangeWatch), read when the database or its WAL is written (inotify) and on a slow timer as
 *   the safety net, and announced as `all`.
 * - PostgreSQL: every commit that changes a kind sends a NOTIFY (delivered to every replica at
 *   commit); a periodic check of the stored revisions is the safety net for a lost notification
 *   or a dropped listening connection.
 *
 * A notification only ever makes a copy re-read the store: its payload is a hint, never data, so
 * a forged or malformed one (any database user can NOTIFY) costs at most a re-read.
 */

/** What changed. `keys`: keys and their states (the trust revision); `tokens`: bearer tokens; `policy`: the stored image policy. */
export type ChangeKind = 'keys' | 'tokens' | 'policy';
export const CHANGE_KINDS: readonly ChangeKind[] = ['keys', 'tokens', 'policy'];

export function isChangeKind(value: unknown): value is ChangeKind {
  return typeof value === 'string' && (CHANGE_KINDS as readonly string[]).includes(value);
}

/** `all`: anything may have changed (another process wrote, a notification may have been lost). */
export type ChangeSignal = ChangeKind | 'all';

/**
 * Where a change came from: `local`, a commit of this process (announced at commit, before its
 * caller answers); `heard`, anything else (a NOTIFY, which any database user can send; a moved
 * revision or data_version; markStale). A serve --workers worker tells its siblings about its own
 * commits only: one heard change relayed by every worker was N×(N−1) re-reads.
 */
export type ChangeOrigin = 'local' | 'heard';

export type ChangeListener = (signal: ChangeSignal, origin: ChangeOrigin) => void;

export interface StoreChanges {
  /** `listener` runs (synchronously, in order of subscription) on every signal; returns an unsubscribe function. */
  subscribe(listener: ChangeListener): () => void;
  /**
   * Forces every in-memory copy to re-read the store now (as if `all` had been announced). For
   * callers that learn of a change another way, e.g. an IPC broadcast between worker processes.
   */
  markStale(): void;
}

/** The listener bookkeeping both backends share. A listener that throws does not stop the others. */
export class ChangeFeed implements StoreChanges {
  private readonly listeners = new Set<ChangeListener>();

  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  markStale(): void {
    this.emit('all');
  }

  /** Announces `signal`; `local` for this process's own commits only. */
  emit(signal: ChangeSignal, origin: ChangeOrigin = 'heard'): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(signal, origin);
      } catch {
        // A copy that cannot refresh reports it itself (its next read fails); the others still hear.
      }
    }
  }
}
