/**
 * The primary's sum of the workers' metrics (serve --workers N) across a worker's death: a summed
 * counter that goes down is read by Prometheus as a reset (rate() then counts every other worker's
 * whole total again), so what a dead worker counted stays in the totals.
 */
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { WorkerMetricsTotals, type WorkerMetrics } from '../../../src/metrics/aggregate';
import { parsePrometheusText, sampleValue } from '../../support/prometheus-text';

async function workerScrape(calls: number, inFlight: number): Promise<WorkerMetrics> {
  const r = new Registry();
  new Counter({ name: 'countersign_rpc_requests_total', help: 'h', labelNames: ['status'], registers: [r] }).inc({ status: 'OK' }, calls);
  new Gauge({ name: 'countersign_in_flight', help: 'h', registers: [r] }).set(inFlight);
  const h = new Histogram({ name: 'countersign_rpc_seconds', help: 'h', buckets: [1], registers: [r] });
  for (let i = 0; i < calls; i++) h.observe(0.5);
  return r.getMetricsAsJSON();
}

test('a worker that dies: its counters and histograms stay in the totals, its gauges go, and it is not counted as a worker', async () => {
  const totals = new WorkerMetricsTotals();
  const before = parsePrometheusText(
    (
      await totals.aggregate([
        { worker: 1, metrics: await workerScrape(5, 2) },
        { worker: 2, metrics: await workerScrape(7, 3) },
      ])
    ).text,
  );
  expect(sampleValue(before, 'countersign_rpc_requests_total', { status: 'OK' })).toBe(12);
  totals.retire(2);
  // Worker 3 replaces worker 2 and starts from zero.
  const after = parsePrometheusText(
    (
      await totals.aggregate([
        { worker: 1, metrics: await workerScrape(6, 1) },
        { worker: 3, metrics: await workerScrape(1, 4) },
      ])
    ).text,
  );
  expect(sampleValue(after, 'countersign_rpc_requests_total', { status: 'OK' })).toBe(6 + 1 + 7);
  expect(sampleValue(after, 'countersign_rpc_seconds_count')).toBe(14);
  expect(sampleValue(after, 'countersign_in_flight')).toBe(5);
  expect(sampleValue(after, 'countersign_workers')).toBe(2);
  // Several deaths: still every one's last figures, once each.
  totals.retire(3);
  totals.retire(3);
  const later = parsePrometheusText((await totals.aggregate([{ worker: 1, metrics: await workerScrape(6, 0) }])).text);
  expect(sampleValue(later, 'countersign_rpc_requests_total', { status: 'OK' })).toBe(6 + 1 + 7);
  expect(sampleValue(later, 'countersign_rpc_seconds_count')).toBe(14);
  expect(sampleValue(later, 'countersign_rpc_seconds_bucket', { le: '1' })).toBe(14);
  expect(sampleValue(later, 'countersign_workers')).toBe(1);
});

test('a worker that does not answer this scrape is counted with its last figures, not dropped (no false reset)', async () => {
  const totals = new WorkerMetricsTotals();
  await totals.aggregate([
    { worker: 1, metrics: await workerScrape(5, 0) },
    { worker: 2, metrics: await workerScrape(7, 0) },
  ]);
  const m = parsePrometheusText((await totals.aggregate([{ worker: 1, metrics: await workerScrape(6, 0) }], [2])).text);
  expect(sampleValue(m, 'countersign_rpc_requests_total', { status: 'OK' })).toBe(13);
  expect(sampleValue(m, 'countersign_workers')).toBe(1);
});
