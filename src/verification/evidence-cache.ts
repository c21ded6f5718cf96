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
 * - A hit on an entry collected more than `refreshAfterMs` ago (default 30 s) is answered from
 *   the cache and re-collects in the background (one refresh per key at a time), so evidence
 *   another tool pushed (a new signature, a new scan) is seen within about that time, not only
 *   when the TTL ends. A failed refresh keeps the entry (until its TTL); a refresh whose trust
 *   revision is no longer current is not stored.
 * - LRU with `maxEntries`: a working set a little above capacity still mostly hits.
 */
import { SharedWork } from '../shared/cancellation';
import { flatString, StringTable } from '../shared/compact-strings';
import { recencySlack } from '../shared/lru';
import type { Evidence } from '../policy/input';

interface Entry {
  evidence: Evidence[];
  trustRevision: string;
  expiresAt: number;
  collectedAt: number;
  /** The use counter when the entry was last moved to the newest end (see LruMap). */
  stamp: number;
}

export type Collect = (signal: AbortSignal) => Promise<Evidence[]>;

export interface EvidenceCacheOptions {
  /** How long verified evidence is reused. */
  ttlMs?: number;
  /** How long evidence that produced a deny is reused. */
  negativeTtlMs?: number;
  maxEntries?: number;
  /** A hit older than this re-collects in the background (0: never). */
  refreshAfterMs?: number;
  /** Upper bound on one background refresh. */
  refreshTimeoutMs?: number;
  now?: () => number;
}

export const DEFAULT_CACHE_MAX_ENTRIES = 10_000;

export class EvidenceCache {
  private readonly entries = new Map<string, Entry>();
  private readonly inFlight = new SharedWork<Evidence[]>();
  private readonly ttlMs: number;
  readonly negativeTtlMs: number;
  private readonly maxEntries: number;
  private readonly slack: number;
  private clock = 0;
  private readonly now: () => number;
  private readonly refreshAfterMs: number;
  private readonly refreshTimeoutMs: number;
  /** Values many entries repeat (media types, predicate types, key names), stored once. */
  private readonly strings = new StringTable();
  /** Keys with a background refresh running (coalesced: at most one each). */
  private readonly refreshing = new Map<string, Promise<void>>();
  hits = 0;
  misses = 0;
  refreshes = 0;
  /** Entries dropped to stay within maxEntries (least recently used first). */
  evictions = 0;

  constructor(opts: EvidenceCacheOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 5 * 60_000;
    this.negativeTtlMs = opts.negativeTtlMs ?? 10_000;
    this.maxEntries = opts.maxEntries ?? DEFAULT_CACHE_MAX_ENTRIES;
    if (!Number.isInteger(this.maxEntries) || this.maxEntries < 1)
      throw new RangeError(`maxEntries must be a positive integer, got ${this.maxEntries}`);
    this.slack = recencySlack(this.maxEntries);
    this.refreshAfterMs = opts.refreshAfterMs ?? 30_000;
    this.refreshTimeoutMs = opts.refreshTimeoutMs ?? 30_000;
    this.now = opts.now ?? Date.now;
  }

  /**
   * The cached evidence for `key` under `trustRevision` without waiting (undefined: a miss, for
   * get() to collect). Counts as a hit, refreshes recency, and starts a background refresh with
   * `collect` when the entry is older than refreshAfterMs.
   */
  peek(key: string, trustRevision: string, collect: Collect): Evidence[] | undefined {
    const entry = this.entries.get(key);
    const now = this.now();
    if (!entry || entry.trustRevision !== trustRevision || entry.expiresAt <= now) return undefined;
    this.hits++;
    // Refresh recency for LRU eviction (only once the entry has fallen behind: see LruMap).
    if (this.clock - entry.stamp > this.slack) {
      this.entries.delete(key);
      entry.stamp = ++this.clock;
      this.entries.set(key, entry);
    }
    if (this.refreshAfterMs > 0 && now - entry.collectedAt >= this.refreshAfterMs) this.refresh(key, entry, collect);
    return entry.evidence;
  }

  /** Settles when the background refreshes running now have (for tests and shutdown). */
  async settled(): Promise<void> {
    await Promise.all([...this.refreshing.values()]);
  }

  /**
   * Cached evidence for `key` under `trustRevision`, or the result of `collect` (shared by
   * concurrent callers). Resolves `cached: true` when no collection ran for this caller.
   * `signal` is this caller's deadline; `collect` receives the shared collection's own signal.
   */
  async get(
    key: string,
    trustRevision: string,
    collect: Collect,
    opts: { signal?: AbortSignal } = {},
  ): Promise<{ evidence: Evidence[]; cached: boolean }> {
    const hit = this.peek(key, trustRevision, collect);
    if (hit) return { evidence: hit, cached: true };
    this.misses++;
    const flightKey = `${key}\0${trustRevision}`;
    const evidence = await this.inFlight.run(
      flightKey,
      async (signal) => {
        const collected = await collect(signal);
        // Cut short, a collection may have turned failed reads into "unverified": never keep it.
        const now = this.now();
        if (!signal.aborted)
          this.store(key, { evidence: collected, trustRevision, expiresAt: now + this.ttlMs, collectedAt: now, stamp: 0 });
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

  /**
   * The same evidence, its strings stored compactly: digests flat (not slices of the documents
   * they were read from), repeated values shared. Predicates are kept as they are.
   */
  private compact(e: Evidence): Evidence {
    const t = this.strings;
    const out: Evidence = {
      ...e,
      referrerDigest: flatString(e.referrerDigest),
      format: t.intern(e.format) as Evidence['format'],
      subjectDigest: flatString(e.subjectDigest),
    };
    if (e.artifactType !== undefined) out.artifactType = t.intern(e.artifactType);
    if (e.reason !== undefined) out.reason = t.intern(e.reason);
    if (e.keyId !== undefined) out.keyId = t.intern(e.keyId);
    if (e.keyName !== undefined) out.keyName = t.intern(e.keyName);
    if (e.bundleVersion !== undefined) out.bundleVersion = t.intern(e.bundleVersion);
    if (e.trustRoot !== undefined) out.trustRoot = t.intern(e.trustRoot);
    if (e.predicateType !== undefined) out.predicateType = t.intern(e.predicateType);
    if (e.created !== undefined) out.created = flatString(e.created);
    return out;
  }

  private refresh(key: string, entry: Entry, collect: Collect): void {
    if (this.refreshing.has(key)) return;
    this.refreshes++;
    // Not again until this one is done or refreshAfterMs has passed once more.
    entry.collectedAt = this.now();
    const signal = AbortSignal.timeout(this.refreshTimeoutMs);
    const run = (async () => {
      try {
        const collected = await collect(signal);
        const current = this.entries.get(key);
        // Stored only over the entry it refreshes: an invalidation, a newer collection or a key
        // change (another trust revision) since then wins.
        if (signal.aborted || current !== entry) return;
        const now = this.now();
        // A shortened (deny) entry keeps its short life: the refresh does not extend it.
        this.store(key, {
          evidence: collected,
          trustRevision: entry.trustRevision,
          expiresAt: Math.min(entry.expiresAt, now + this.ttlMs),
          collectedAt: now,
          stamp: 0,
        });
      } catch {
        // A failed refresh keeps the entry: errors are never cached, and the entry is still valid.
      } finally {
        this.refreshing.delete(key);
      }
    })();
    this.refreshing.set(key, run);
  }

  private store(key: string, entry: Entry): void {
    entry.stamp = ++this.clock;
    entry.evidence = entry.evidence.map((e) => this.compact(e));
    this.entries.delete(key);
    // The caller's key is usually built by concatenation: kept as one flat copy (compact-strings.ts).
    this.entries.set(flatString(key), entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evictions++;
    }
  }
}
