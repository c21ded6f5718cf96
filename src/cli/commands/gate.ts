/** `countersign gate`: the registry gate as its own process, deciding through a Countersign server. */
import path from 'node:path';
import { gateOptions, memoryUpkeep } from '../../app';
import { checkGate, loadConfig } from '../../config/config';
import { PostgresWriteLock } from '../../coordination';
import { GrpcVerifier, startGateServer } from '../../gate';
import { createLogger } from '../../logging/logger';
import { noopObserver } from '../../shared/observer';
import { ServedRequests } from '../../shared/served-requests';
import { serverAddress } from '../client';
import { clientConnection, parse, UsageError } from './support';

/**
 * The registry gate on its own, next to the registry, asking a Countersign elsewhere. Settings as
 * for serve: defaults < config file (its `gate` section) < environment < flags.
 */
export async function gate(args: string[]): Promise<number> {
  const { values } = parse(
    args,
    {
      config: { type: 'string' },
      listen: { type: 'string' },
      upstream: { type: 'string' },
      server: { type: 'string' },
      token: { type: 'string' },
      'token-file': { type: 'string' },
      'registry-name': { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'upstream-ca': { type: 'string' },
      'allow-plain-http': { type: 'boolean', default: false },
      'log-level': { type: 'string' },
    },
    'gate',
  );
  const config = loadConfig({
    configFile: values.config,
    logLevel: values['log-level'],
    gateListen: values.listen,
    gateUpstream: values.upstream,
  });
  if (values['registry-name']) config.gate.registryName = values['registry-name'];
  if (values['tls-cert']) config.gate.tlsCertFile = path.resolve(values['tls-cert']);
  if (values['tls-key']) config.gate.tlsKeyFile = path.resolve(values['tls-key']);
  if (values['upstream-ca']) config.gate.upstreamCaFile = path.resolve(values['upstream-ca']);
  if (values['allow-plain-http']) config.gate.allowPlainHttp = true;
  if (!config.gate.listen) throw new UsageError('--listen HOST:PORT is required (or gate.listen / COUNTERSIGN_GATE_LISTEN)');
  checkGate(config.gate);
  const logger = createLogger({ level: config.logLevel });
  const connection = clientConnection(values);
  const address = serverAddress(values.server);
  const verifier = new GrpcVerifier({ address, ...connection });
  // Gate replicas sharing a PostgreSQL (store.url) serialize tag writes through it (immutable tags).
  const tagLock = config.store ? await PostgresWriteLock.connect(config.store.url) : undefined;
  // Its requests are counted for the idle memory return (a window with none is idle).
  const served = new ServedRequests();
  const server = await startGateServer({
    ...gateOptions(config, verifier, logger),
    observer: served.observing(noopObserver),
    ...(tagLock ? { tagLock } : {}),
  });
  const memory = memoryUpkeep(config, logger, served);
  memory.start();
  logger.info(
    {
      listen: config.gate.listen,
      port: server.port,
      upstream: config.gate.upstream,
      countersign: address,
      tagWrites: tagLock ? 'serialized across gate replicas by the store' : 'serialized in this process',
    },
    'registry gate serving',
  );
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      logger.info({ signal }, 'registry gate shutting down');
      server.close().then(resolve, () => resolve());
    };
    process.once('SIGTERM', () => stop('SIGTERM'));
    process.once('SIGINT', () => stop('SIGINT'));
  });
  memory.stop();
  verifier.close();
  await tagLock?.close();
  logger.flush();
  return 0;
}
