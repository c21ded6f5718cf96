/**
 * One scrape for several worker processes (`serve --workers N`): each worker sends its registry as
 * JSON (prom-client's `getMetricsAsJSON`) over the cluster IPC channel and the primary merges them
 * by each metric's aggregator — counters and histograms summed, prom-client's process gauges as it
 * defines them, the revision info gauges by max (value 1 per revision some worker holds) — plus a
 * gauge of the workers that answered. Without this, each scrape reached one worker at random and
 * every counter seemed to jump back and forth between the workers' figures.
 */
import { AggregatorRegistry, Gauge, type Registry } from 'prom-client';

/** What one worker sends: its registry's metrics as JSON. */
export type WorkerMetrics = Awaited<ReturnType<Registry['getMetricsAsJSON']>>;

export interface AggregatedMetrics {
  text: string;
  contentType: string;
}

export async function aggregateWorkerMetrics(parts: WorkerMetrics[]): Promise<AggregatedMetrics> {
  const registry = AggregatorRegistry.aggregate(parts);
  const workers = new Gauge({
    name: 'countersign_workers',
    help: 'worker processes whose metrics this scrape adds up',
    registers: [registry],
  });
  workers.set(parts.length);
  return { text: await registry.metrics(), contentType: registry.contentType };
}
