/**
 * Children of an index that was just allowed to be pulled. A client fetches the index, then its
 * platform manifests by digest; under `multiArch: index` (or `either`, satisfied by the index)
 * those children carry no evidence of their own, and must not be denied. The memory is per
 * repository, per child digest, bounded in time and size, and only ever filled from an index the
 * policy allowed in this repository: a child pulled with no allowed parent is judged on its own,
 * so a child digest is never a way around the policy.
 *
 * Like the decision cache, the memory is tied to the policy and trust revisions the index was
 * allowed under: after a revocation or a policy change a child is no longer covered by an old
 * allow (it is judged on its own, or its index is asked about again).
 */
export interface AllowedChildrenOptions {
  ttlMs: number;
  maxEntries: number;
  now?: () => number;
}

/** `P`: what the gate keeps of the parent index's allow (to ask about it again). */
export class AllowedChildren<P = string> {
  private readonly entries = new Map<string, { expires: number; parent: P; revision: string | undefined }>();
  private readonly now: () => number;

  constructor(private readonly opts: AllowedChildrenOptions) {
    this.now = opts.now ?? Date.now;
  }

  /** `revision`: the revisions the index was allowed under (undefined when the verifier reports none). */
  remember(repository: string, parent: P, children: readonly string[], revision: string | undefined): void {
    const expires = this.now() + this.opts.ttlMs;
    for (const child of children) {
      const key = `${repository}@${child}`;
      this.entries.delete(key); // re-insert: Map order is the eviction order
      this.entries.set(key, { expires, parent, revision });
    }
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  /** The allowed parent index, when `child` is still covered by one allowed under `currentRevision`. */
  parentOf(repository: string, child: string, currentRevision: string | undefined): P | undefined {
    const key = `${repository}@${child}`;
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.now() || e.revision !== currentRevision) {
      this.entries.delete(key);
      return undefined;
    }
    return e.parent;
  }
}
