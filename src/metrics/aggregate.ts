/**
 * One scrape for several worker processes (`serve --workers N`): each worker sends its registry as
 * JSON (prom-client's `getMetricsAsJSON`) over the cluster IPC channel and the primary merges them
 * by each metric's aggregator — counters and histograms summed, prom-client's process gauges as it
 * defines them, the revision info gauges by max (value 1 per revision some worker holds) — plus a
 * gauge of the workers that answered. Without this, each scrape reached one worker at random and
 * every counter seemed to jump back and forth between the workers' figures.
 *
 * Summed counters must never go down: Prometheus reads a decrease as a reset and rate() then counts
 * every other worker's whole total again; nor may a worker's be counted twice. So WorkerMetricsTotals
 * counts every worker once by the newest counters and histograms it reported: a serving worker that
 * misses a scrape (it hangs, or is dying) by its last ones, a worker that is gone by its last ones
 * for good (a replacement, with a new id, starts from zero) — including a reply it sent just before
 * it exited, while the scrape was waiting for the others. Gauges of such workers are left out.
 */
import { AggregatorRegistry, Gauge, type Registry } from 'prom-client';

/** What one worker sends: its registry's metrics as JSON. */
export type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export interface AggregatedMetrics {
  text: string;
  contentType: string;
}

/** `parts` added up; `answered`: the workers that answered (the countersign_workers gauge). */
export async function aggregateWorkerMetrics(parts: WorkerMetrics[], answered = parts.length): Promise<AggregatedMetrics> {
  const registry = AggregatorRegistry.aggregate(parts);
  const workers = new Gauge({
    name: 'countersign_workers',
    help: 'worker processes whose metrics this scrape adds up',
    registers: [registry],
  });
  workers.set(answered);
  return { text: await registry.metrics(), contentType: registry.contentType };
}

/** The counters and histograms of a scrape: what only ever grows. */
function monotonic(metrics: WorkerMetrics): WorkerMetrics {
  return metrics.filter(isMonotonic);
}

function isMonotonic(m: WorkerMetrics[number]): boolean {
  return String(m.type) === 'counter' || String(m.type) === 'histogram';
}

/** A worker's report as it crossed the IPC channel: used only if it is a list of metric families. */
export function isWorkerMetrics(value: unknown): value is WorkerMetrics {
  return (
    Array.isArray(value) &&
    value.every(
      (m) =>
        typeof m === 'object' &&
        m !== null &&
        typeof (m as { name?: unknown }).name === 'string' &&
        Array.isArray((m as { values?: unknown }).values),
    )
  );
}

type Family = WorkerMetrics[number];
type Sample = Family['values'][number] & { metricName?: string };

/**
 * `parts` merged series by series (a family by its name, a sample by its metric name and labels),
 * combining the values of one series with `op`. Synchronous (prom-client's aggregation gives a
 * registry that is read back only asynchronously): no exit handled meanwhile can be lost.
 */
function combine(parts: readonly WorkerMetrics[], op: (a: number, b: number) => number): WorkerMetrics {
  const families = new Map<string, { family: Family; samples: Map<string, Sample> }>();
  for (const part of parts) {
    for (const family of part) {
      let entry = families.get(family.name);
      if (!entry) families.set(family.name, (entry = { family, samples: new Map() }));
      for (const sample of family.values as Sample[]) {
        const labels = Object.entries(sample.labels).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
        const key = JSON.stringify([sample.metricName ?? '', labels]);
        const prev = entry.samples.get(key);
        entry.samples.set(key, prev ? { ...prev, value: op(prev.value, sample.value) } : { ...sample });
      }
    }
  }
  return [...families.values()].map(({ family, samples }) => ({ ...family, values: [...samples.values()] }));
}

/**
 * The counters and histograms of one worker, newest: each series at the largest value any of its
 * reports gave (one worker's counters only grow, so this is its latest report whatever order its
 * reports were handed in).
 */
function newest(reports: readonly WorkerMetrics[]): WorkerMetrics {
  return combine(reports.map(monotonic), Math.max);
}

export class WorkerMetricsTotals {
  /** The newest counters and histograms of each worker seen and not gone. */
  private readonly live = new Map<number, WorkerMetrics>();
  /** Those of each worker gone since the last scrape (a reply of its may still be on its way). */
  private readonly gone = new Map<number, WorkerMetrics>();
  /** Every worker that is gone: a cluster never gives a worker id twice, so a few numbers per restart. */
  private readonly goneIds = new Set<number>();
  /** The sum of those of every worker gone before the last scrape: one part however many restarts. */
  private folded: WorkerMetrics = [];

  /**
   * One scrape: the counters and histograms of every worker, each counted once — its newest
   * figures, whether it answered this time, is `silent` (serving, no answer: it hangs or is
   * dying), is not serving but has not exited, or is gone — plus the gauges of the serving
   * workers that answered (`countersign_workers` is their number).
   *
   * A reply of a worker that exited after sending it (its exit was handled while the scrape waited
   * for the others) updates its figures as a gone worker's: counted once, never as a serving
   * worker's. One that comes after the figures of its worker were folded — only possible if two
   * scrapes overlap, which the metrics server prevents (it coalesces them) — is dropped: the
   * worker stays counted with the figures it had, so the sum is never counted twice nor goes down.
   * A serving worker that did not answer needs no mention: like every worker seen and not gone, it
   * is counted by its newest figures.
   */
  async aggregate(reports: Array<{ worker: number; metrics: WorkerMetrics }>): Promise<AggregatedMetrics> {
    const gauges: WorkerMetrics[] = [];
    for (const { worker, metrics } of reports) {
      if (this.goneIds.has(worker)) {
        const had = this.gone.get(worker);
        if (had) this.gone.set(worker, newest([had, metrics]));
        continue;
      }
      this.live.set(worker, newest([this.live.get(worker) ?? [], metrics]));
      gauges.push(metrics.filter((m) => !isMonotonic(m)));
    }
    // No reply of the workers gone so far can come from now on (they are asked no more): fold them.
    // Summed, as the scrape adds up counters and histograms (their aggregator, prom-client's default).
    if (this.gone.size > 0) {
      this.folded = combine([this.folded, ...this.gone.values()], (a, b) => a + b);
      this.gone.clear();
    }
    return aggregateWorkerMetrics([...gauges, ...this.live.values(), this.folded], gauges.length);
  }

  /** A worker exited: its newest counters and histograms stay in every later scrape (once, however often this is called). */
  retire(worker: number): void {
    if (this.goneIds.has(worker)) return;
    this.goneIds.add(worker);
    // Even with no figures yet: a reply it sent before exiting may still be on its way.
    this.gone.set(worker, this.live.get(worker) ?? []);
    this.live.delete(worker);
  }
}
