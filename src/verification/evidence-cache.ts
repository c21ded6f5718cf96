/**
 * Verified evidence, cached by image DIGEST (content-addressed, so a cached entry can never be
 * reached through a moved tag: tags are resolved on every call before the cache is consulted).
 *
 * - Entries carry the trust-store revision they were verified under; any key change makes them
 *   misses (and clear() drops everything at once).
 * - Only successful collections are stored: errors, transient or not, are never cached.
 * - Concurrent misses for one digest share one collection (one registry round trip). Each caller
 *   may give up at its own deadline; the collection is cancelled only when every caller has, and
 *   a collection that was cancelled is never stored, whatever it returned.
 * - shorten() lets the caller keep evidence that led to a deny only briefly (the negative cache),
 *   so a signature or SBOM pushed moments later is seen quickly.
 */
import { SharedWork } from '../shared/cancellation';
import type { Evidence } from './types';

interface Entry {
  evidence: Evidence[];
  trustRevision: string;
  expiresAt: number;
}

export interface EvidenceCacheOptions {
  /** How long verified evidence is reused. */
  ttlMs?: number;
  /** How long evidence that produced a deny is reused. */
  negativeTtlMs?: number;
  maxEntries?: number;
  now?: () => number;
}

export class EvidenceCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new SharedWork<Evidence[]>();
  private readonly ttlMs: number;
  readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;
  /** Entries dropped to stay within maxEntries (least recently used first). */
  evictions = 0;

  constructor(opts: EvidenceCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 10_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Cached evidence for `key` under `trustRevision`, or the result of `collect` (shared by
   * concurrent callers). Resolves `cached: true` when no collection ran for this caller.
   * `signal` is this caller's deadline; `collect` receives the shared collection's own signal.
   */
  async get(
    key: string,
    trustRevision: string,
    collect: (signal: AbortSignal) => Promise<Evidence[]>,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ evidence: Evidence[]; cached: boolean }> {
    const entry = this.entries.get(key);
    if (entry && entry.trustRevision === trustRevision && entry.expiresAt > this.now()) {
      this.hits++;
      // Refresh recency for LRU eviction.
      this.entries.delete(key);
      this.entries.set(key, entry);
      return { evidence: entry.evidence, cached: true };
    }
    this.misses++;
    const flightKey = `${key}\0${trustRevision}`;
    const evidence = await this.inFlight.run(
      flightKey,
      async (signal) => {
        const collected = await collect(signal);
        // Cut short, a collection may have turned failed reads into "unverified": never keep it.
        if (!signal.aborted) this.store(key, { evidence: collected, trustRevision, expiresAt: this.now() + this.ttlMs });
        return collected;
      },
      opts.signal,
    );
    return { evidence, cached: false };
  }

  /** Keep this entry at most the negative TTL from now (evidence that led to a deny). */
  shorten(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.expiresAt = Math.min(entry.expiresAt, this.now() + this.negativeTtlMs);
  }

  /** Drop one digest's evidence (a referrer was just added to it). */
  invalidate(key: string): void {
    this.entries.delete(key);
  }

  clear(): void {
    this.entries.clear();
  }

  get size(): number {
    return this.entries.size;
  }

  private store(key: string, entry: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evictions++;
    }
  }
}
