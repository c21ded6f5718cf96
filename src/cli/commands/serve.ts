/** `countersign serve`: the gRPC service (and the admission webhook / registry gate it is given listen addresses for). */
import { createApp } from '../../app';
import { loadConfig } from '../../config/config';
import { createLogger } from '../../logging/logger';
import { startupBanner } from '../../auth';
import { parse } from './support';

export async function serve(args: string[]): Promise<number> {
  const { values } = parse(args, {
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
  }, 'serve');
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
  const logger = createLogger({ level: config.logLevel });
  const app = await createApp(config, logger);
  const banner = startupBanner(app.accessMode, config.listen);
  if (banner) process.stderr.write(`\n${banner}\n\n`);
  const port = await app.start();
  logger.info({ listen: config.listen, port, keysDir: config.keysDir, dataDir: config.dataDir }, 'countersign serving');
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
  });
  logger.info('stopped');
  logger.flush();
  return 0;
}
