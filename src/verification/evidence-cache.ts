/**
 * Verified evidence, cached by image DIGEST (content-addressed, so a cached entry can never be
 * reached through a moved tag: tags are resolved on every call before the cache is consulted).
 *
 * - Entries carry the trust-store revision they were verified under; any key change makes them
 *   misses (and clear() drops everything at once).
 * - Only successful collections are stored: errors, transient or not, are never cached.
 * - Concurrent misses for one digest share one collection (one registry round trip).
 * - shorten() lets the caller keep evidence that led to a deny only briefly (the negative cache),
 *   so a signature or SBOM pushed moments later is seen quickly.
 */
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
  private readonly inFlight = new Map<string, Promise<Evidence[]>>();
  private readonly ttlMs: number;
  readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  hits = 0;
  misses = 0;

  constructor(opts: EvidenceCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 10_000;
    this.maxEntries = opts.maxEntries ?? 10_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * Cached evidence for `key` under `trustRevision`, or the result of `collect` (shared by
   * concurrent callers). Resolves `cached: true` when no collection ran for this caller.
   */
  async get(key: string, trustRevision: string, collect: () => Promise<Evidence[]>): Promise<{ evidence: Evidence[]; cached: boolean }> {
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
    let flight = this.inFlight.get(flightKey);
    if (!flight) {
      flight = collect()
        .then((evidence) => {
          this.store(key, { evidence, trustRevision, expiresAt: this.now() + this.ttlMs });
          return evidence;
        })
        .finally(() => this.inFlight.delete(flightKey));
      this.inFlight.set(flightKey, flight);
    }
    return { evidence: await flight, cached: false };
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
    }
  }
}
