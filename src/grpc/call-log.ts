import type { Logger } from '../logging/logger';

/**
 * Keeps the per-call log line from dominating the warm path (a pino line with redaction costs
 * more CPU than a cached Verify itself): a call the handler marks `routine` (an ALLOWED decision
 * from cached evidence) is logged in full the first time its (method, image, digest, rule,
 * revisions) appears in a window, and only counted after that; each window ends with one
 * "calls summarized" line per method giving the count. Everything else — denials, errors, misses,
 * Sign, key operations — is logged on every call, as before.
 *
 * The window's timer runs only while there is a count to write: a process with no calls has no
 * wake-up for this (on a small VM each one costs milliseconds of CPU: idle-memory.ts).
 */
export const SUMMARY_WINDOW_MS = 10_000;
/** Distinct routine decisions remembered per window (beyond it, lines are counted only). */
const MAX_SEEN = 10_000;

export class CallLogSampler {
  private seen = new Set<string>();
  private counts = new Map<string, number>();
  private windowStart: number;
  /** Set while a count waits for its summary line. */
  private timer: NodeJS.Timeout | undefined;
  private readonly logger: Logger;
  private readonly windowMs: number;
  private readonly clock: () => number;

  constructor(logger: Logger, windowMs = SUMMARY_WINDOW_MS, clock: () => number = Date.now) {
    this.logger = logger;
    this.windowMs = windowMs;
    this.clock = clock;
    this.windowStart = clock();
  }

  /** True when this routine call's line should be written; otherwise it is counted. */
  admit(method: string, key: string): boolean {
    if (this.clock() - this.windowStart >= this.windowMs) this.flush();
    if (!this.seen.has(key) && this.seen.size < MAX_SEEN) {
      this.seen.add(key);
      return true;
    }
    this.counts.set(method, (this.counts.get(method) ?? 0) + 1);
    // The summary is written when the window ends, even if no call comes after it.
    if (this.timer === undefined) {
      this.timer = setTimeout(() => this.flush(), Math.max(0, this.windowStart + this.windowMs - this.clock()));
      this.timer.unref();
    }
    return false;
  }

  flush(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
    const ms = this.clock() - this.windowStart;
    for (const [method, count] of this.counts) {
      this.logger.info(
        { method, count, windowMs: ms },
        'calls summarized (allowed decisions from cached evidence already logged in this window)',
      );
    }
    this.counts = new Map();
    this.seen = new Set();
    this.windowStart = this.clock();
  }
}

const samplers = new WeakMap<Logger, CallLogSampler>();

/** One sampler per logger (every handler of a server shares it). */
export function samplerFor(logger: Logger): CallLogSampler {
  let s = samplers.get(logger);
  if (!s) samplers.set(logger, (s = new CallLogSampler(logger)));
  return s;
}
