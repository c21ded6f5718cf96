/** `countersign serve`: the gRPC service (and the admission webhook / registry gate it is given listen addresses for). */
import { createApp } from '../../app';
import { loadConfig } from '../../config/config';
import { createLogger } from '../../logging/logger';
import { startupBanner } from '../../auth';
import cluster from 'node:cluster';
import { attachWorker, parseWorkers, runPrimary } from '../../cluster/serve-cluster';
import { CLUSTER_PRIMARY_ENV, ClusterWriteLock } from '../../cluster/cluster-write-lock';
import { parse } from './support';
import { printErr } from '../output';

export async function serve(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      config: { type: 'string' },
      listen: { type: 'string' },
      'keys-dir': { type: 'string' },
      'data-dir': { type: 'string' },
      policy: { type: 'string' },
      'admission-listen': { type: 'string' },
      'metrics-listen': { type: 'string' },
      'gate-listen': { type: 'string' },
      'gate-upstream': { type: 'string' },
      'log-level': { type: 'string' },
      workers: { type: 'string' },
    },
    'serve',
  );
  const config = loadConfig({
    policyFile: values.policy,
    admissionListen: values['admission-listen'],
    metricsListen: values['metrics-listen'],
    gateListen: values['gate-listen'],
    gateUpstream: values['gate-upstream'],
    configFile: values.config,
    listen: values.listen,
    keysDir: values['keys-dir'],
    dataDir: values['data-dir'],
    logLevel: values['log-level'],
  });
  // Several processes sharing the sockets and the data directory (src/cluster); 1: this process serves.
  const workers = parseWorkers(values.workers ?? process.env.COUNTERSIGN_WORKERS);
  const root = createLogger({ level: config.logLevel });
  if (workers > 1 && cluster.isPrimary) {
    return runPrimary({
      workers,
      logger: root,
      graceMs: config.shutdownGraceMs,
      ...(config.metrics.listen ? { metricsListen: config.metrics.listen } : {}),
    });
  }
  const logger = cluster.isWorker ? root.child({ worker: cluster.worker?.id, pid: process.pid }) : root;
  let app: Awaited<ReturnType<typeof createApp>>;
  let port: number;
  // A worker of our own primary asks it for the referrer-index write lock (src/cluster), used
  // under registry.exclusiveReferrerWrites; a worker of any other primary has no such lock.
  const workerWriteLock =
    cluster.isWorker && process.env[CLUSTER_PRIMARY_ENV] && config.registry.exclusiveReferrerWrites && !config.store
      ? new ClusterWriteLock()
      : undefined;
  try {
    // A worker's metrics port is its primary's, which adds up every worker's figures (src/cluster).
    app = await createApp(config, logger, { serveMetricsPort: !cluster.isWorker, ...(workerWriteLock ? { workerWriteLock } : {}) });
    const banner = startupBanner(app.accessMode, config.listen);
    if (banner && (!cluster.isWorker || cluster.worker?.id === 1)) printErr(`\n${banner}\n\n`);
    port = await app.start();
  } catch (err) {
    // A worker that cannot start must exit (its IPC channel would keep it alive) for the primary to stop.
    workerWriteLock?.close();
    if (cluster.isWorker) setImmediate(() => process.disconnect());
    throw err;
  }
  logger.info({ listen: config.listen, port, keysDir: config.keysDir, dataDir: config.dataDir }, 'countersign serving');
  let detach: (() => void) | undefined;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'shutting down: finishing in-flight calls');
      app.stop().then(resolve, (err: unknown) => {
        logger.error({ err }, 'error during shutdown');
        resolve();
      });
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
    if (cluster.isWorker) detach = attachWorker(app, port, stop);
  });
  workerWriteLock?.close();
  detach?.();
  logger.info('stopped');
  logger.flush();
  return 0;
}
