/**
 * The trust view of the managed key store: what Verify reads on every call, with no query. Every
 * version of every key (with its validity window, revocation and scopes) and the trust revision,
 * held in memory. The key lifecycle (managed-key-store.ts) replaces the copy with what its own
 * transaction read, before the change it makes returns; another process's or replica's changes
 * are re-read when the store announces them (`store.changes`: SQLite's data_version, PostgreSQL's
 * NOTIFY and the periodic revision check).
 */
import { StoreFollower, type SqlStore } from '../store';
import type { TrustedCaBundle, TrustedKey, TrustStore } from '../trust/types';
import { isCaBundleRow, readKeySnapshot, storedTrustRevision, trustedCaBundleOf, trustedKeyOf, type KeyRow } from './key-rows';

export class KeyTrustView implements TrustStore {
  private rows: KeyRow[] = [];
  private trusted: TrustedKey[] = [];
  private trustedById = new Map<string, TrustedKey>();
  private trustedCaBundles: TrustedCaBundle[] = [];
  private rev = '';
  /** Bumped by every change of the copy, so a read that started before a newer change is dropped. */
  private generation = 0;
  private readonly listeners = new Set<() => void>();
  private readonly follower: StoreFollower;

  constructor(private readonly store: SqlStore) {
    this.follower = new StoreFollower(store.changes, ['keys'], () => this.refreshNow(), 'the keys');
  }

  /** Stops following the store's changes. */
  close(): void {
    this.follower.close();
  }

  // ---- TrustStore ---------------------------------------------------------------------------

  /** From memory (no query): kept current by this process's changes and the store's announcements. */
  revision(): string {
    return this.rev;
  }

  /** Every version of every key (state and validity decide what it may vouch for). */
  list(): TrustedKey[] {
    return [...this.trusted];
  }

  byId(id: string): TrustedKey | undefined {
    return this.trustedById.get(id);
  }

  /** Every version of every CA bundle (keys import --ca-bundle): certificates chaining to one of its CAs count as its. */
  caBundles(): TrustedCaBundle[] {
    return [...this.trustedCaBundles];
  }

  onChange(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The store unreachable or its announcements lost, or the last re-read of the keys failed (it is retried). */
  stale(): string | undefined {
    return this.store.staleness() ?? this.follower.behind();
  }

  /** A re-read of an announced change under way: the copy may predate a revocation until it is done. */
  settled(): Promise<void> | undefined {
    return this.follower.pending();
  }

  // ---- the rows, for the key lifecycle ----------------------------------------------------------

  /** Every stored key version, ordered by name and version. */
  allRows(): readonly KeyRow[] {
    return this.rows;
  }

  rowById(id: string): KeyRow | undefined {
    return this.rows.find((r) => r.id === id);
  }

  /** The version of `name` that signs (active), else its latest version. */
  currentByName(name: string): KeyRow | undefined {
    const versions = this.rows.filter((r) => r.name === name);
    return versions.find((r) => r.state === 'active') ?? versions[versions.length - 1];
  }

  // ---- keeping the copy current ---------------------------------------------------------------

  /**
   * Re-reads the keys if the stored trust revision moved (one small query when it did not);
   * resolves once a check that started after this call is done.
   */
  refreshIfChanged(): Promise<void> {
    return this.follower.request();
  }

  /** Reads every key and the revision (at start, and when the revision moved). */
  async reload(): Promise<void> {
    const generation = ++this.generation;
    const { rev, rows } = await readKeySnapshot(this.store);
    // A change applied while this read was under way is newer than what it read.
    if (generation !== this.generation) return;
    this.apply(rev, rows);
  }

  /** Replaces the copy with a snapshot read after a change (inside its transaction); tells the listeners if the revision moved. */
  apply(rev: string, rows: KeyRow[]): void {
    this.generation++;
    const changed = rev !== this.rev;
    this.rows = rows;
    this.trusted = rows.filter((r) => !isCaBundleRow(r)).map(trustedKeyOf);
    this.trustedCaBundles = rows.filter(isCaBundleRow).map(trustedCaBundleOf);
    this.trustedById = new Map(this.trusted.map((k) => [k.id, k]));
    this.rev = rev;
    if (changed) for (const l of this.listeners) l();
  }

  private async refreshNow(): Promise<void> {
    const generation = this.generation;
    const rev = await storedTrustRevision(this.store);
    // A change applied meanwhile (this process's own) is at least as new as what was read.
    if (rev !== this.rev && generation === this.generation) await this.reload();
  }
}
