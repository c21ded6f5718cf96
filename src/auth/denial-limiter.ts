/**
 * How many access denials are recorded one by one. Every denial is an audit append (a write
 * transaction and a row), and anyone who reaches the port can be denied as fast as they can send:
 * without a bound, one unauthenticated caller grows the audit table without end and slows every
 * writer of the store. So per caller, method and status, the first `perWindow` denials of a
 * window are recorded in full, the rest are counted, and the count is recorded as one entry when
 * the window closes: nothing goes unaccounted, and the cost of a flood is one row a window.
 */
export interface DenialLimiterOptions {
  /** Denials recorded one by one per (caller, method, status) and window. Default 20. */
  perWindow?: number;
  /** The window. Default 60 s. */
  windowMs?: number;
  /** Distinct (caller, method, status) kept at once; beyond, new ones share one count. Default 1000. */
  maxKeys?: number;
  now?: () => number;
}

/** What the summary of a window records: who, what, how many denials were not recorded one by one. */
export interface SuppressedDenials {
  actor: string;
  method: string;
  status: string;
  count: number;
  windowMs: number;
}

interface Window {
  startedAt: number;
  recorded: number;
  suppressed: number;
  actor: string;
  method: string;
  status: string;
}

export class DenialLimiter {
  private readonly windows = new Map<string, Window>();
  private readonly perWindow: number;
  private readonly windowMs: number;
  private readonly maxKeys: number;
  private readonly now: () => number;
  private timer: NodeJS.Timeout | undefined;
  private readonly flush: (summary: SuppressedDenials) => void;

  constructor(flush: (summary: SuppressedDenials) => void, options: DenialLimiterOptions = {}) {
    this.flush = flush;
    this.perWindow = options.perWindow ?? 20;
    this.windowMs = options.windowMs ?? 60_000;
    this.maxKeys = options.maxKeys ?? 1000;
    this.now = options.now ?? Date.now;
  }

  /** True when this denial is to be recorded one by one; false when it is only counted. */
  admit(actor: string, method: string, status: string): boolean {
    const t = this.now();
    this.closeWindows(t);
    let key = `${actor}\u0000${method}\u0000${status}`;
    if (!this.windows.has(key) && this.windows.size >= this.maxKeys) {
      key = `\u0000overflow\u0000${status}`; // a caller varying its name shares one count
      actor = '(many callers)';
      method = '(any method)';
    }
    let w = this.windows.get(key);
    if (w === undefined) {
      w = { startedAt: t, recorded: 0, suppressed: 0, actor, method, status };
      this.windows.set(key, w);
      this.schedule();
    }
    if (w.recorded < this.perWindow) {
      w.recorded++;
      return true;
    }
    w.suppressed++;
    return false;
  }

  /** Records the counts of every window now (shutdown). */
  close(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    this.closeWindows(Infinity);
  }

  private closeWindows(t: number): void {
    for (const [key, w] of this.windows) {
      if (t - w.startedAt < this.windowMs) continue;
      this.windows.delete(key);
      if (w.suppressed > 0)
        this.flush({ actor: w.actor, method: w.method, status: w.status, count: w.suppressed, windowMs: this.windowMs });
    }
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.closeWindows(this.now());
      if (this.windows.size > 0) this.schedule();
    }, this.windowMs);
    this.timer.unref();
  }
}
