/**
 * Gives the memory a burst of load left behind back to the system once the process goes idle.
 *
 * Why this exists: after each full GC, V8 keeps the old-generation pages it freed in a page pool,
 * committed, for reuse, and releases them only on a memory-reducing GC. Its memory reducer is meant
 * to run one when a process goes idle, but in Node 24 (V8 13.6) it goes on judging a service that
 * has just stopped serving as "high alloc" and never starts: measured, a service with 100,000
 * cached digests peaks at 320–390 MB RSS under load and stays there idle for good, where one
 * memory-reducing GC takes it to ~180 MB in ~170 ms (README, Benchmarks: RSS rows). So this asks
 * V8 for that GC itself, once per idle period that follows load, never while the process is busy.
 *
 * Idle and busy are read from the process's own CPU time (all threads), one window at a time: no
 * hook on any request path. Probes, scrapes and the store's one-second health check stay far
 * below the idle threshold on most machines. Not on all: on a small VM where each timer wake-up
 * costs milliseconds, a service with nothing to do was measured at 3-7% of a core, so with fixed
 * thresholds it was never idle, and never gave memory back. The thresholds are therefore set
 * against the process's own quiet floor (the least CPU of its recent windows): idle is less than
 * 1.5x that floor (at least idleCpuShare, at most MAX_IDLE_SHARE, so a process serving steady
 * traffic never looks idle), busy is that much more again as busyCpuShare is above idleCpuShare.
 *
 * Given the count of requests served (`served`, src/shared/served-requests.ts), a window in which
 * no request was served and that was not busy is idle too, whatever its CPU: the timers of a
 * process with nothing to do (and the connections its clients keep open) were measured above that
 * floor-based threshold on this VM (4.7-5.9% of a core for the bench's service, against a 5% cap),
 * so the CPU alone never called it idle there. Busy is still read from CPU only: work a request
 * left running (a background refresh, a long blob transfer) keeps a window busy.
 */
import v8 from 'node:v8';
import vm from 'node:vm';

export interface IdleMemoryReturnOptions {
  /** One window: how often the CPU time is read. */
  windowMs?: number;
  /** A window with less CPU than this share of one core is idle. */
  idleCpuShare?: number;
  /** A window with at least this share of one core is load worth returning memory after. */
  busyCpuShare?: number;
  /** CPU time used by the process so far, in microseconds. */
  cpuMicros?: () => number;
  /** A monotonic clock in milliseconds. */
  now?: () => number;
  /** The memory-reducing GC (memoryReducingGc by default). */
  collect?: () => void;
  /** Resident set size in bytes, for the report. */
  rss?: () => number;
  /** Requests served so far (ServedRequests.count): a window in which it did not move and that was not busy is idle. */
  served?: () => number;
  /** Told after each return: RSS before and after, and how long the GC paused the process. */
  onReturn?: (facts: { rssBefore: number; rssAfter: number; pauseMs: number }) => void;
}

const DEFAULT_WINDOW_MS = 10_000;
/** The windows the quiet floor is the least of (5 minutes of 10 s windows): it follows the machine. */
const FLOOR_WINDOWS = 30;
/** Idle never means more than this share of a core, whatever the floor. */
export const MAX_IDLE_SHARE = 0.05;
// A second of full load in a window is load; probes, scrapes and health checks (well under 1%) are idle.
const DEFAULT_IDLE_CPU_SHARE = 0.01;
const DEFAULT_BUSY_CPU_SHARE = 0.05;

export class IdleMemoryReturn {
  private readonly windowMs: number;
  private readonly idleCpuShare: number;
  private readonly busyCpuShare: number;
  private readonly cpuMicros: () => number;
  private readonly now: () => number;
  private readonly collect: () => void;
  private readonly rss: () => number;
  private readonly onReturn: IdleMemoryReturnOptions['onReturn'];
  private readonly served: (() => number) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** CPU time and clock when the current window began. */
  private lastCpu = 0;
  private lastAt = 0;
  /** served() when the current window began. */
  private lastServed = 0;
  /** Some window since the last return (or the start) was busy. */
  private loadSinceReturn = false;
  /** The CPU shares of the last FLOOR_WINDOWS windows, oldest first. */
  private readonly recent: number[] = [];
  /** Memory-reducing GCs run so far. */
  returns = 0;

  constructor(opts: IdleMemoryReturnOptions = {}) {
    this.windowMs = opts.windowMs ?? DEFAULT_WINDOW_MS;
    this.idleCpuShare = opts.idleCpuShare ?? DEFAULT_IDLE_CPU_SHARE;
    this.busyCpuShare = opts.busyCpuShare ?? DEFAULT_BUSY_CPU_SHARE;
    if (!(this.idleCpuShare < this.busyCpuShare)) throw new RangeError('idleCpuShare must be below busyCpuShare');
    this.cpuMicros = opts.cpuMicros ?? processCpuMicros;
    this.now = opts.now ?? (() => performance.now());
    this.collect = opts.collect ?? memoryReducingGc;
    this.rss = opts.rss ?? (() => process.memoryUsage.rss());
    this.onReturn = opts.onReturn;
    this.served = opts.served;
    this.beginWindow();
  }

  start(): void {
    if (this.timer) return;
    this.beginWindow();
    this.timer = setInterval(() => this.endWindow(), this.windowMs);
    // Never what keeps the process alive.
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  private beginWindow(): void {
    this.lastCpu = this.cpuMicros();
    this.lastAt = this.now();
    this.lastServed = this.served?.() ?? 0;
  }

  /** Ends the current window (the timer calls it; tests call it directly). */
  endWindow(): void {
    const cpu = this.cpuMicros();
    const at = this.now();
    const elapsedMs = at - this.lastAt;
    const share = elapsedMs > 0 ? (cpu - this.lastCpu) / (elapsedMs * 1000) : 0;
    const served = this.served?.();
    const servedNone = served !== undefined && served === this.lastServed;
    // The next window starts where this one ended.
    this.lastCpu = cpu;
    this.lastAt = at;
    if (served !== undefined) this.lastServed = served;
    const { idle, busy } = this.thresholds(share);
    if (share >= busy) {
      this.loadSinceReturn = true;
      return;
    }
    if ((share >= idle && !servedNone) || !this.loadSinceReturn) return;
    this.loadSinceReturn = false;
    const rssBefore = this.rss();
    const t0 = this.now();
    this.collect();
    const pauseMs = this.now() - t0;
    this.returns++;
    // The GC's own CPU belongs to no window: the next one starts after it.
    this.beginWindow();
    this.onReturn?.({ rssBefore, rssAfter: this.rss(), pauseMs });
  }

  /** Idle and busy for this window, against the quiet floor of the recent windows and this one. */
  private thresholds(share: number): { idle: number; busy: number } {
    this.recent.push(share);
    if (this.recent.length > FLOOR_WINDOWS) this.recent.shift();
    const floor = Math.min(...this.recent);
    const idle = Math.max(this.idleCpuShare, Math.min(MAX_IDLE_SHARE, floor * 1.5));
    return { idle, busy: idle + (this.busyCpuShare - this.idleCpuShare) };
  }
}

function processCpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

type GcFunction = (options: { type: 'major'; execution: 'sync'; flavor: 'last-resort' }) => void;
let gcFunction: GcFunction | undefined;

/**
 * One memory-reducing full GC (V8's "last resort" collection, as on memory pressure: it releases
 * the page pool). The gc function is taken from one fresh context made while --expose-gc is set,
 * so it is never a global that other code could reach.
 */
export function memoryReducingGc(): void {
  if (!gcFunction) {
    const exposed = (globalThis as { gc?: unknown }).gc;
    if (typeof exposed === 'function') {
      // Started with --expose-gc: the flag is the operator's, left as it is.
      gcFunction = exposed as GcFunction;
    } else {
      v8.setFlagsFromString('--expose-gc');
      try {
        gcFunction = vm.runInNewContext('gc') as GcFunction;
      } finally {
        // Contexts made from now on (vm, test environments) get no gc global.
        v8.setFlagsFromString('--no-expose-gc');
      }
    }
  }
  gcFunction({ type: 'major', execution: 'sync', flavor: 'last-resort' });
}
