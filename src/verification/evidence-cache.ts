/**
 * Verified evidence, cached by image DIGEST (content-addressed, so a cached entry can never be
 * reached through a moved tag: tags are resolved on every call before the cache is consulted).
 *
 * - Entries carry the trust-store revision they were verified under; any key change makes them
 *   misses (and clear() drops everything at once).
 * - Only successful, complete collections are stored: errors, transient or not, are never cached,
 *   nor a collection the time budget cut short (a note with `cutShort: 'time'`: referrers left
 *   unread because the registry was slow then, not because of what it holds). Its callers get it
 *   as not cached (so no decision is memoized from it), and the next call collects again; a
 *   background refresh cut short so keeps the entry it refreshes, as a failed one does. A
 *   collection cut short by the bytes budget depends only on the content and is cached.
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
import { flatString, PACKED_SHA256_LENGTH, packDigest, StringTable, unpackDigest } from '../shared/compact-strings';
import { LruMap, recencySlack } from '../shared/lru';
import type { Evidence } from '../policy/input';

/**
 * One cached digest. Times are kept relative to the cache's creation (small integers, stored in
 * place, where absolute milliseconds would each be a separate heap number).
 */
class Entry {
  constructor(
    /** One piece of evidence (the usual case) is held without an array around it. */
    public evidence: StoredEvidence | readonly StoredEvidence[],
    readonly trustRevision: string,
    public expiresAt: number,
    public collectedAt: number,
    /** The use counter when the entry was last moved to the newest end (see LruMap). */
    public stamp: number,
  ) {}
}

/**
 * One piece of cached evidence, stored compactly: what it shares with other entries (format,
 * key, artifact and predicate types, bundle version...: most entries of a cache repeat a few such
 * combinations) is one shared object; what is its own (the digests, packed; the creation time; a
 * predicate) is here. Turned back into an Evidence on every hit (see evidence()). The subject
 * digest is not stored when the entry's key ends with it packed (the verification service's keys
 * do: see its cacheKey).
 */
class StoredEvidence {
  constructor(
    readonly shared: Readonly<Partial<Evidence>>,
    readonly referrerDigest: string,
    /** Packed; '' when it is the digest the entry's key ends with. */
    readonly subjectDigest: string,
    /** Seconds since 1970 when it is an ISO 8601 UTC time to the second (as BuildKit and cosign write it), else as written. */
    readonly created: string | number | undefined,
    readonly predicate: unknown,
  ) {}

  evidence(key: string): Evidence {
    const subject = this.subjectDigest === '' ? key.slice(key.length - PACKED_SHA256_LENGTH) : this.subjectDigest;
    const e = { ...this.shared, referrerDigest: unpackDigest(this.referrerDigest), subjectDigest: unpackDigest(subject) } as Evidence;
    if (this.created !== undefined) e.created = typeof this.created === 'number' ? isoSeconds(this.created) : this.created;
    if (this.predicate !== undefined) e.predicate = this.predicate;
    return e;
  }
}

/** Entries whose evidence is kept as handed out, ready for the next hit (a warm working set). */
const RECENT_ENTRIES = 256;

/** `created` as seconds when that gives back exactly the same text, else a flat copy of it. */
function packTime(created: string): string | number {
  const ms = Date.parse(created);
  const seconds = ms / 1000;
  return Number.isInteger(seconds) && isoSeconds(seconds) === created ? seconds : flatString(created);
}

/** Recently formatted times (a warm hit formats its entry's time on every call). */
const formatted = new Map<number, string>();

function isoSeconds(seconds: number): string {
  let iso = formatted.get(seconds);
  if (iso === undefined) {
    iso = new Date(seconds * 1000).toISOString().replace('.000Z', 'Z');
    if (formatted.size >= 1024) formatted.clear();
    formatted.set(seconds, iso);
  }
  return iso;
}

/**
 * The table of shared parts is bounded (pushers choose some of their fields): the most recently
 * used distinct parts, each at most this long as JSON (a larger one, such as a Notary Project
 * certificate chain, is kept by its entry alone). A part dropped from the table stays with the
 * entries that hold it; later entries get a new copy.
 */
const SHARED_PARTS = 1024;
const MAX_SHARED_PART_JSON = 4096;

export type Collect = (signal: AbortSignal) => Promise<Evidence[]>;

/** Whether the collection's time budget left something unread (see EvidenceCollector.collect). */
function cutShortByTime(evidence: readonly Evidence[]): boolean {
  return evidence.some((e) => e.cutShort === 'time');
}

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
  /**
   * Collections in flight per key, and for such a key the generation of its last invalidation:
   * what a collection read before invalidate() or clear() must not be stored (it would undo them:
   * a referrer just added through this instance would stay unseen until the next refresh), and a
   * call made after them must not join it. Kept only while a collection of the key runs.
   */
  private readonly collecting = new Map<string, number>();
  private readonly invalidatedAt = new Map<string, number>();
  private generation = 0;
  /** The generation of the last clear(). */
  private clearedAt = 0;
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
  /** The shared parts of stored evidence (see StoredEvidence), by their JSON. */
  private readonly sharedParts = new LruMap<string, Readonly<Partial<Evidence>>>(SHARED_PARTS);
  /** The evidence of recently hit entries, as handed out (an entry replaced is a new Entry: never stale). */
  private readonly recent = new LruMap<Entry, readonly Evidence[]>(RECENT_ENTRIES);
  /** now() when the cache was made: stored times are relative to it. */
  private readonly epoch: number;
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
    this.epoch = this.now();
  }

  /**
   * Whether `key` holds live evidence under `trustRevision`. Counts nothing and touches no
   * recency: a caller that needs several entries asks first, so a partly warm set is not counted
   * as hits and then counted again by get().
   */
  has(key: string, trustRevision: string): boolean {
    const entry = this.entries.get(key);
    return entry !== undefined && entry.trustRevision === trustRevision && entry.expiresAt > this.now() - this.epoch;
  }

  /**
   * The cached evidence for `key` under `trustRevision` without waiting (undefined: a miss, for
   * get() to collect). Counts as a hit, refreshes recency, and starts a background refresh with
   * `collect` when the entry is older than refreshAfterMs.
   */
  peek(key: string, trustRevision: string, collect: Collect): readonly Evidence[] | undefined {
    const entry = this.entries.get(key);
    const now = this.now() - this.epoch;
    if (!entry || entry.trustRevision !== trustRevision || entry.expiresAt <= now) return undefined;
    this.hits++;
    // Refresh recency for LRU eviction (only once the entry has fallen behind: see LruMap).
    if (this.clock - entry.stamp > this.slack) {
      this.entries.delete(key);
      entry.stamp = ++this.clock;
      this.entries.set(key, entry);
    }
    if (this.refreshAfterMs > 0 && now - entry.collectedAt >= this.refreshAfterMs) this.refresh(key, entry, collect);
    // A hot entry is turned back into evidence once, not on every hit (frozen: shared by every caller).
    let evidence = this.recent.get(entry);
    if (evidence === undefined) {
      const stored = entry.evidence;
      evidence = Object.freeze((stored instanceof StoredEvidence ? [stored] : stored).map((e) => Object.freeze(e.evidence(key))));
      this.recent.set(entry, evidence);
    }
    return evidence;
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
    opts: {
      signal?: AbortSignal;
      /**
       * `key` is a flat string the caller holds for as long anyway (the verification service's
       * manifest facts are keyed by the same string): stored as given instead of as a copy.
       */
      keyIsFlat?: boolean;
    } = {},
  ): Promise<{ evidence: readonly Evidence[]; cached: boolean }> {
    const hit = this.peek(key, trustRevision, collect);
    if (hit) return { evidence: hit, cached: true };
    this.misses++;
    const since = this.invalidationOf(key);
    const flightKey = `${key}\0${trustRevision}\0${since}`;
    // Counted from now (the shared collection may begin a little later), so that an invalidation
    // made at any point after this call is recorded for it.
    this.collecting.set(key, (this.collecting.get(key) ?? 0) + 1);
    try {
      const evidence = await this.inFlight.run(
        flightKey,
        async (signal) => {
          const collected = await collect(signal);
          // Cut short, a collection may have turned failed reads into "unverified", or left
          // unread what decides: never keep it. Nor what was read before an invalidation or a
          // clear since the call began.
          const now = this.now() - this.epoch;
          if (!signal.aborted && !cutShortByTime(collected) && this.invalidationOf(key) === since)
            this.store(key, collected, trustRevision, now + this.ttlMs, now, opts.keyIsFlat === true);
          return collected;
        },
        opts.signal,
      );
      return { evidence, cached: false };
    } finally {
      const left = (this.collecting.get(key) ?? 1) - 1;
      if (left > 0) this.collecting.set(key, left);
      else {
        this.collecting.delete(key);
        this.invalidatedAt.delete(key);
      }
    }
  }

  /** The generation of the last invalidation of `key` or clear, whichever came later (0: none while it was collected). */
  private invalidationOf(key: string): number {
    return Math.max(this.clearedAt, this.invalidatedAt.get(key) ?? 0);
  }

  /** Keep this entry at most the negative TTL from now (evidence that led to a deny). */
  shorten(key: string): void {
    const entry = this.entries.get(key);
    if (entry) entry.expiresAt = Math.min(entry.expiresAt, this.now() - this.epoch + this.negativeTtlMs);
  }

  /** Drop one digest's evidence (a referrer was just added to it). */
  invalidate(key: string): void {
    this.entries.delete(key);
    if (this.collecting.has(key)) this.invalidatedAt.set(key, ++this.generation);
  }

  clear(): void {
    this.entries.clear();
    this.recent.clear();
    if (this.collecting.size > 0) this.clearedAt = ++this.generation;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The same evidence, stored compactly: digests packed, the parts many entries repeat shared
   * (their strings interned), the rest flat (not slices of the documents they were read from).
   */
  private compact(e: Evidence, key: string): StoredEvidence {
    const { referrerDigest, subjectDigest, created, predicate, ...rest } = e;
    const json = JSON.stringify(rest);
    const shareable = json.length <= MAX_SHARED_PART_JSON;
    let shared = shareable ? this.sharedParts.get(json) : undefined;
    if (shared === undefined) {
      const t = this.strings;
      const part: Partial<Evidence> = { ...rest, format: t.intern(rest.format) as Evidence['format'] };
      if (rest.artifactType !== undefined) part.artifactType = t.intern(rest.artifactType);
      if (rest.reason !== undefined) part.reason = t.intern(rest.reason);
      if (rest.keyId !== undefined) part.keyId = t.intern(rest.keyId);
      if (rest.keyName !== undefined) part.keyName = t.intern(rest.keyName);
      if (rest.bundleVersion !== undefined) part.bundleVersion = t.intern(rest.bundleVersion);
      if (rest.trustRoot !== undefined) part.trustRoot = t.intern(rest.trustRoot);
      if (rest.predicateType !== undefined) part.predicateType = t.intern(rest.predicateType);
      shared = Object.freeze(part);
      if (shareable) this.sharedParts.set(json, shared);
    }
    const subject = packDigest(subjectDigest);
    const subjectInKey = subject.length === PACKED_SHA256_LENGTH && key.endsWith(subject);
    return new StoredEvidence(
      shared,
      packDigest(referrerDigest),
      subjectInKey ? '' : subject,
      created === undefined ? undefined : packTime(created),
      predicate,
    );
  }

  private refresh(key: string, entry: Entry, collect: Collect): void {
    if (this.refreshing.has(key)) return;
    this.refreshes++;
    // Not again until this one is done or refreshAfterMs has passed once more.
    entry.collectedAt = this.now() - this.epoch;
    const signal = AbortSignal.timeout(this.refreshTimeoutMs);
    const run = (async () => {
      try {
        const collected = await collect(signal);
        const current = this.entries.get(key);
        // Stored only over the entry it refreshes: an invalidation, a newer collection or a key
        // change (another trust revision) since then wins.
        // Cut short by time, it is kept no more than a failed refresh: the entry stays.
        if (signal.aborted || current !== entry || cutShortByTime(collected)) return;
        const now = this.now() - this.epoch;
        // A shortened (deny) entry keeps its short life: the refresh does not extend it.
        // In place of the entry it refreshes: the map keeps the key it holds (no copy) and its
        // place, so the new entry keeps the stamp of that place (see LruMap).
        this.entries.set(
          key,
          this.entryOf(key, collected, entry.trustRevision, Math.min(entry.expiresAt, now + this.ttlMs), now, entry.stamp),
        );
      } catch {
        // A failed refresh keeps the entry: errors are never cached, and the entry is still valid.
      } finally {
        this.refreshing.delete(key);
      }
    })();
    this.refreshing.set(key, run);
  }

  private entryOf(key: string, evidence: Evidence[], trustRevision: string, expiresAt: number, collectedAt: number, stamp: number): Entry {
    const stored = evidence.map((e) => this.compact(e, key));
    return new Entry(stored.length === 1 ? stored[0]! : stored, trustRevision, expiresAt, collectedAt, stamp);
  }

  private store(
    key: string,
    evidence: Evidence[],
    trustRevision: string,
    expiresAt: number,
    collectedAt: number,
    keyIsFlat: boolean,
  ): void {
    const entry = this.entryOf(key, evidence, trustRevision, expiresAt, collectedAt, ++this.clock);
    this.entries.delete(key);
    // The caller's key is usually built by concatenation: kept as one flat copy (compact-strings.ts),
    // unless the caller holds it flat already.
    this.entries.set(keyIsFlat ? key : flatString(key), entry);
    while (this.entries.size > this.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
      this.evictions++;
    }
  }
}
