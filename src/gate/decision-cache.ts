/**
 * Allowed pull decisions, reused for a short time so that a warm manifest read through the gate
 * does not pay a Verify round trip (a gRPC hop when the gate runs apart from Countersign).
 *
 * What others got wrong, and what this cache therefore never does (../shared/GATE.md beside the project):
 * - It is keyed by the exact question asked: action, the full image reference WITH the digest of
 *   the bytes being served (computed by the gate on every request, after resolving the tag on
 *   every request), and the request context. A tag that moves is a new key; a decision is never
 *   served for other bytes than the digest it was made for (Kyverno's cache keyed by the
 *   reference string, CVE-2026-122321).
 * - It holds allows only: a deny is never reused, so a hit can never skip a check that denies
 *   (kyverno/kyverno#17173); the gate still checks the answer's digest on every hit.
 * - Every entry carries the policy and trust revisions its decision was made under, and is
 *   served only while those are the revisions in force: a revoked key, a new key or a new policy
 *   invalidates it at the next request (a cache that survives a revocation is a bypass).
 *   Decisions for which no revision is known are not cached at all.
 * - Entries live at most `ttlMs` (decisions that depend on time, such as expiring exceptions or
 *   scan age, are re-asked within that bound), and there are at most `maxEntries` of them (LRU).
 */
import type { GateVerifyResult } from './decision';

export interface DecisionCacheOptions {
  /** How long an allowed decision is reused; 0 turns the cache off. */
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

interface Entry {
  result: GateVerifyResult;
  revision: string;
  expires: number;
}

/** The policy and trust revisions a Verify answer was made under, as one token; undefined when either is unknown. */
export function revisionOf(result: Pick<GateVerifyResult, 'policyRevision' | 'trustRevision'>): string | undefined {
  return result.policyRevision && result.trustRevision ? `${result.policyRevision} ${result.trustRevision}` : undefined;
}

/** The cache key of a decision: everything the gate sends to Verify except the deadline. */
export function decisionKey(action: string, image: string, context: { identity?: string; labels?: Record<string, string> }): string {
  const labels = Object.entries(context.labels ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return JSON.stringify([action, image, context.identity ?? null, labels]);
}

export class DecisionCache {
  private readonly entries = new Map<string, Entry>();
  private readonly now: () => number;

  constructor(private readonly opts: DecisionCacheOptions) {
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.entries.size;
  }

  /**
   * The allowed decision for `key`, if one was made under `currentRevision` less than ttlMs ago.
   * An unknown current revision is a miss: nothing is reused without knowing it is still current.
   */
  get(key: string, currentRevision: string | undefined): GateVerifyResult | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (currentRevision === undefined || e.revision !== currentRevision || e.expires <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    // LRU: a hit moves the entry to the end of the eviction order.
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.result;
  }

  /**
   * Remembers an allowed decision made under `currentRevision` (the revisions in force when the
   * answer arrived). Not stored: denials, answers without revisions, and answers made under other
   * revisions than the current ones (an answer that was in flight across a revision change).
   */
  remember(key: string, result: GateVerifyResult, currentRevision: string | undefined): void {
    if (this.opts.ttlMs <= 0 || !result.allowed) return;
    const revision = revisionOf(result);
    if (revision === undefined || revision !== currentRevision) return;
    this.entries.delete(key);
    this.entries.set(key, { result, revision, expires: this.now() + this.opts.ttlMs });
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }
}
