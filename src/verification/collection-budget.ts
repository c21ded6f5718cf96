/**
 * How much work one evidence collection may do: bytes read and time spent, never a count of
 * entries by position. A pusher decides how many referrers, index entries and `.sig` layers an
 * image has; a positional cap ("the first 128") lets junk listed first crowd out a valid signature
 * listed after it. Bytes and time bound the cost whatever the layout, while cheap junk (thousands
 * of tiny or dangling entries) is simply examined and reported. When the budget runs out, what was
 * not examined is reported as unverified evidence (a deny unless something else satisfies the
 * policy), never an error: a timeout would hand the decision to onError.
 */

export interface CollectionBudgetOptions {
  /** Manifest and blob bytes read for one image. */
  maxBytes: number;
  /** Time for one image's collection. */
  maxMs: number;
  /** Milliseconds, monotonic enough for a budget (tests inject a counter). */
  clock: () => number;
}

export class CollectionBudget {
  private bytes = 0;
  private readonly deadline: number;
  /**
   * Why work was first stopped for want of TIME, else undefined. The bytes budget depends only on
   * what the registry holds; the time budget on how fast it answered then, which nothing may keep.
   */
  outOfTime: string | undefined;

  constructor(private readonly opts: CollectionBudgetOptions) {
    this.deadline = opts.clock() + opts.maxMs;
  }

  charge(bytes: number): void {
    this.bytes += bytes;
  }

  /** Why no further entry may be examined, or undefined while the budget lasts. */
  exhausted(): string | undefined {
    if (this.bytes >= this.opts.maxBytes) return `the collection read its ${this.opts.maxBytes}-byte budget`;
    if (this.opts.clock() >= this.deadline) return (this.outOfTime ??= `the collection used its ${this.opts.maxMs} ms budget`);
    return undefined;
  }
}
