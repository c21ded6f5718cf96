/**
 * Holds the V8 old generation's growth between two full GCs to an absolute headroom.
 *
 * Why this exists: V8 lets the old generation grow to a multiple of what survived the last full
 * GC before it runs the next one, and that multiple is up to 4 (on a machine where V8's default
 * heap limit is large). The pages a full GC frees are kept committed for reuse (its page pool), so
 * under load the RSS is that multiple of the live heap: with 100,000 cached digests (~62 MB live)
 * 330–390 MB after a minute at 64 callers. A smaller multiple for every heap (a lower
 * --max-old-space-size, or a fixed --heap-growing-percent) holds that to ~200 MB but makes a small
 * heap collect far more often: measured, 12–29% more CPU per warm call with 25 MB live. Headroom
 * in megabytes costs what it saves: a small heap keeps a large multiple (as V8 would give it), a
 * large one a small multiple, and full GCs come about once per `headroomMb` promoted either way.
 *
 * How: after each full GC, V8's --heap-growing-percent (read at every GC) is set to headroom / live
 * (within MIN_PERCENT..MAX_PERCENT). Nothing on any request path: one PerformanceObserver entry
 * per GC, one setFlagsFromString when the percentage moves by PERCENT_STEP or more.
 */
import { constants, PerformanceObserver } from 'node:perf_hooks';
import v8 from 'node:v8';

/** Below this (a factor of 1.25), full GCs of a large heap run back to back (README, Benchmarks: RSS rows). */
export const MIN_PERCENT = 25;
/** V8's own largest factor (4): a headroom worth more than that is left to V8. */
export const MAX_PERCENT = 300;
/** Smaller moves are not worth a flag change. */
const PERCENT_STEP = 5;

/** The --heap-growing-percent for `liveBytes` live after a full GC and `headroomBytes` of room. */
export function growingPercent(liveBytes: number, headroomBytes: number): number {
  if (liveBytes <= 0) return MAX_PERCENT;
  return Math.max(MIN_PERCENT, Math.min(MAX_PERCENT, Math.round((headroomBytes / liveBytes) * 100)));
}

export interface HeapHeadroomOptions {
  headroomMb: number;
  /** Heap in use now, in bytes (read just after a full GC: what it kept, and a little since). */
  usedHeapBytes?: () => number;
  /** Sets V8 flags (v8.setFlagsFromString). */
  setFlags?: (flags: string) => void;
}

export class HeapHeadroom {
  private readonly headroomBytes: number;
  private readonly usedHeapBytes: () => number;
  private readonly setFlags: (flags: string) => void;
  private observer: PerformanceObserver | undefined;
  private pending = false;
  /** The percentage set last (undefined: none yet; V8's own growth). */
  percent: number | undefined;

  constructor(opts: HeapHeadroomOptions) {
    if (!Number.isFinite(opts.headroomMb) || opts.headroomMb <= 0)
      throw new RangeError(`headroomMb must be positive, got ${opts.headroomMb}`);
    this.headroomBytes = opts.headroomMb * 2 ** 20;
    this.usedHeapBytes = opts.usedHeapBytes ?? (() => v8.getHeapStatistics().used_heap_size);
    this.setFlags = opts.setFlags ?? ((flags) => v8.setFlagsFromString(flags));
  }

  start(): void {
    if (this.observer) return;
    this.adjust();
    this.observer = new PerformanceObserver((list) => {
      if (this.pending) return;
      // After the GC's own callbacks: the heap it left is what used_heap_size reads then.
      if (list.getEntries().some((e) => (e as { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) {
        this.pending = true;
        setImmediate(() => {
          this.pending = false;
          this.adjust();
        });
      }
    });
    this.observer.observe({ entryTypes: ['gc'] });
  }

  stop(): void {
    this.observer?.disconnect();
    this.observer = undefined;
  }

  /** Sets the growing percentage for the heap in use now; returns it. */
  adjust(): number {
    const percent = growingPercent(this.usedHeapBytes(), this.headroomBytes);
    if (this.percent === undefined || Math.abs(percent - this.percent) >= PERCENT_STEP) {
      this.setFlags(`--heap-growing-percent=${percent}`);
      this.percent = percent;
    }
    return this.percent;
  }
}
