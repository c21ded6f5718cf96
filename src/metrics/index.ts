export { noopObserver, type Observer } from './observer';
export { PrometheusMetrics, type ScrapeSources } from './prometheus';
export { startMetricsServer, type MetricsServer, type MetricsServerOptions } from './server';
