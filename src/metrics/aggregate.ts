/**
 * One scrape for several worker processes (`serve --workers N`): each worker sends its registry as
 * JSON (prom-client's `getMetricsAsJSON`) over the cluster IPC channel and the primary merges them
 * by each metric's aggregator — counters and histograms summed, prom-client's process gauges as it
 * defines them, the revision info gauges by max (value 1 per revision some worker holds) — plus a
 * gauge of the workers that answered. Without this, each scrape reached one worker at random and
 * every counter seemed to jump back and forth between the workers' figures.
 *
 * Summed counters must never go down: Prometheus reads a decrease as a reset and rate() then counts
 * every other worker's whole total again. So WorkerMetricsTotals keeps the counters and histograms
 * a worker last reported once it is gone (a replacement starts from zero), and uses them for a
 * serving worker that misses a scrape (it hangs, or is dying). Gauges of such workers are left out.
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
  return metrics.filter((m) => String(m.type) === 'counter' || String(m.type) === 'histogram');
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

export class WorkerMetricsTotals {
  /** Each serving worker's last report. */
  private readonly last = new Map<number, WorkerMetrics>();
  /** The counters and histograms of workers that are gone. */
  private retired: WorkerMetrics[] = [];

  /**
   * One scrape: the reports of the workers that answered, plus the last counters and histograms
   * of `silent` workers (serving, but no answer this time) and of every worker that is gone.
   */
  async aggregate(reports: Array<{ worker: number; metrics: WorkerMetrics }>, silent: readonly number[] = []): Promise<AggregatedMetrics> {
    for (const r of reports) this.last.set(r.worker, r.metrics);
    // One part for all the workers that are gone, however many restarts there were.
    if (this.retired.length > 1) this.retired = [await AggregatorRegistry.aggregate(this.retired).getMetricsAsJSON()];
    const stale = silent.flatMap((w) => {
      const m = this.last.get(w);
      return m ? [monotonic(m)] : [];
    });
    return aggregateWorkerMetrics([...reports.map((r) => r.metrics), ...stale, ...this.retired], reports.length);
  }

  /** A worker exited: its last counters and histograms stay in every later scrape (once, however often this is called). */
  retire(worker: number): void {
    const m = this.last.get(worker);
    if (!m) return;
    this.last.delete(worker);
    this.retired.push(monotonic(m));
  }
}
