export { noopObserver, type Observer } from '../shared/observer';
export { PrometheusMetrics, type ScrapeSources } from './prometheus';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions, type MetricsSource } from './server';
export { WorkerMetricsTotals, aggregateWorkerMetrics, isWorkerMetrics, type AggregatedMetrics, type WorkerMetrics } from './aggregate';
