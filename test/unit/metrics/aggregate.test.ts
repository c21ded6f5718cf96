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
  const m = parsePrometheusText((await totals.aggregate([{ worker: 1, metrics: await workerScrape(6, 0) }])).text);
  expect(sampleValue(m, 'countersign_rpc_requests_total', { status: 'OK' })).toBe(13);
  expect(sampleValue(m, 'countersign_workers')).toBe(1);
});

describe('a worker that exits while a scrape waits for the others', () => {
  type Reports = Array<{ worker: number; metrics: WorkerMetrics }>;
  async function scrape(
    totals: WorkerMetricsTotals,
    reports: Reports,
  ): Promise<{ calls: number; seconds: number; inFlight: number; workers: number }> {
    const m = parsePrometheusText((await totals.aggregate(reports)).text);
    // A family nobody has reported yet (no gauge when no serving worker answered) reads as 0.
    const value = (name: string, family: string, labels?: Record<string, string>): number =>
      m.has(family) ? sampleValue(m, name, labels) : 0;
    return {
      calls: value('countersign_rpc_requests_total', 'countersign_rpc_requests_total', { status: 'OK' }),
      seconds: value('countersign_rpc_seconds_count', 'countersign_rpc_seconds'),
      inFlight: value('countersign_in_flight', 'countersign_in_flight'),
      workers: sampleValue(m, 'countersign_workers'),
    };
  }

  test('its reply (sent before it exited) is counted once, as a gone worker: its counters stay, its gauges go, it is not a worker', async () => {
    const totals = new WorkerMetricsTotals();
    const first = await scrape(totals, [
      { worker: 1, metrics: await workerScrape(5, 1) },
      { worker: 2, metrics: await workerScrape(3, 1) },
    ]);
    const reply1 = await workerScrape(7, 2);
    totals.retire(1); // the exit is handled before worker 2's reply came
    const second = await scrape(totals, [
      { worker: 1, metrics: reply1 },
      { worker: 2, metrics: await workerScrape(4, 1) },
    ]);
    const third = await scrape(totals, [{ worker: 2, metrics: await workerScrape(4, 1) }]);
    const fourth = await scrape(totals, [
      { worker: 2, metrics: await workerScrape(6, 0) },
      { worker: 3, metrics: await workerScrape(1, 1) }, // its replacement, a new id, from zero
    ]);
    expect([first, second, third, fourth]).toEqual([
      { calls: 8, seconds: 8, inFlight: 2, workers: 2 },
      { calls: 11, seconds: 11, inFlight: 1, workers: 1 },
      { calls: 11, seconds: 11, inFlight: 1, workers: 1 },
      { calls: 14, seconds: 14, inFlight: 1, workers: 2 },
    ]);
  });

  test('a worker that had never answered before: its only reply is counted, and stays', async () => {
    const totals = new WorkerMetricsTotals();
    await scrape(totals, [{ worker: 1, metrics: await workerScrape(5, 0) }]);
    const reply2 = await workerScrape(2, 1);
    totals.retire(2);
    const second = await scrape(totals, [
      { worker: 1, metrics: await workerScrape(6, 0) },
      { worker: 2, metrics: reply2 },
    ]);
    const third = await scrape(totals, [{ worker: 1, metrics: await workerScrape(6, 0) }]);
    expect([second.calls, third.calls]).toEqual([8, 8]);
    expect(third.workers).toBe(1);
  });

  test('a worker gone before it ever answered, and an exit handled twice, add nothing', async () => {
    const totals = new WorkerMetricsTotals();
    totals.retire(4);
    totals.retire(4);
    const first = await scrape(totals, [{ worker: 1, metrics: await workerScrape(5, 0) }]);
    expect(first).toEqual({ calls: 5, seconds: 5, inFlight: 0, workers: 1 });
  });

  test('a reply that comes after its worker was folded into the gone totals (overlapping scrapes) is dropped: never counted twice, never lower', async () => {
    const totals = new WorkerMetricsTotals();
    await scrape(totals, [
      { worker: 1, metrics: await workerScrape(5, 0) },
      { worker: 2, metrics: await workerScrape(3, 0) },
    ]);
    // Scrape A asked both; worker 1 answers 7 and exits. Scrape B starts after the exit and ends first.
    const lateA = await workerScrape(7, 0);
    totals.retire(1);
    const b = await scrape(totals, [{ worker: 2, metrics: await workerScrape(4, 0) }]);
    const a = await scrape(totals, [
      { worker: 1, metrics: lateA },
      { worker: 2, metrics: await workerScrape(4, 0) },
    ]);
    const next = await scrape(totals, [{ worker: 2, metrics: await workerScrape(4, 0) }]);
    expect([b.calls, a.calls, next.calls]).toEqual([9, 9, 9]);
    expect(a.workers).toBe(1);
  });

  test('reports of one worker handed in out of order (overlapping scrapes): the older one never lowers its figures', async () => {
    const totals = new WorkerMetricsTotals();
    const older = await workerScrape(5, 0);
    const newer = await workerScrape(9, 0);
    expect((await scrape(totals, [{ worker: 1, metrics: newer }])).calls).toBe(9);
    await scrape(totals, [{ worker: 1, metrics: older }]);
    // Worker 1 silent, then gone: counted by its newest figures, 9.
    expect((await scrape(totals, [{ worker: 2, metrics: await workerScrape(1, 0) }])).calls).toBe(10);
    totals.retire(1);
    expect((await scrape(totals, [{ worker: 2, metrics: await workerScrape(1, 0) }])).calls).toBe(10);
  });

  test('a worker neither answering nor listed as silent (not serving, not yet exited) keeps its counters in the sum', async () => {
    const totals = new WorkerMetricsTotals();
    await scrape(totals, [
      { worker: 1, metrics: await workerScrape(5, 1) },
      { worker: 2, metrics: await workerScrape(3, 1) },
    ]);
    const disconnected = await scrape(totals, [{ worker: 2, metrics: await workerScrape(3, 1) }]);
    totals.retire(1);
    const exited = await scrape(totals, [{ worker: 2, metrics: await workerScrape(3, 1) }]);
    expect([disconnected, exited]).toEqual([
      { calls: 8, seconds: 8, inFlight: 1, workers: 1 },
      { calls: 8, seconds: 8, inFlight: 1, workers: 1 },
    ]);
  });

  test('an exit handled while a scrape is being put together is not lost', async () => {
    const totals = new WorkerMetricsTotals();
    await scrape(totals, [
      { worker: 1, metrics: await workerScrape(1, 0) },
      { worker: 2, metrics: await workerScrape(2, 0) },
      { worker: 3, metrics: await workerScrape(4, 0) },
    ]);
    totals.retire(1);
    totals.retire(2);
    const pending = totals.aggregate([{ worker: 3, metrics: await workerScrape(4, 0) }]);
    totals.retire(3);
    await pending;
    expect((await scrape(totals, [{ worker: 4, metrics: await workerScrape(8, 0) }])).calls).toBe(15);
  });

  test('any order of calls, scrapes, replies and exits: every scrape is the sum of each worker’s newest reply, and never goes down', async () => {
    let seed = 42;
    const random = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let run = 0; run < 20; run++) {
      const totals = new WorkerMetricsTotals();
      const calls = new Map<number, number>([
        [1, 0],
        [2, 0],
        [3, 0],
      ]); // serving workers: calls so far
      const newestReply = new Map<number, number>(); // every worker's newest reply handed in
      let nextId = 4;
      let previous = 0;
      for (let step = 0; step < 30; step++) {
        for (const [w, n] of calls) calls.set(w, n + random(4));
        // A scrape: each worker answers, misses it, or answers and then exits before the scrape ends.
        const reports: Reports = [];
        const silent: number[] = [];
        const exits: number[] = [];
        for (const [w, n] of calls) {
          const fate = random(6);
          if (fate === 0) silent.push(w);
          else reports.push({ worker: w, metrics: await workerScrape(n, 1) });
          if (fate === 1) exits.push(w);
          if (fate !== 0) newestReply.set(w, n);
        }
        if (random(4) === 0) exits.push(silent[0] ?? [...calls.keys()][0]!); // one that dies before answering
        for (const w of exits) {
          totals.retire(w);
          calls.delete(w);
          calls.set(nextId++, 0);
        }
        const total = (await scrape(totals, reports)).calls;
        expect(total).toBe([...newestReply.values()].reduce((a, b) => a + b, 0));
        expect(total).toBeGreaterThanOrEqual(previous);
        previous = total;
      }
    }
  });
});
