/**
 * The composition root: the one place that builds the service's parts from its configuration
 * and wires them together. Everything else receives its collaborators.
 */
import { mkdirSync, readFileSync } from 'node:fs';
import type { ServiceConfig } from './config/config';
import { GrpcServer } from './grpc/server';
import { FileKeyStore } from './keys';
import type { Logger } from './logging/logger';
import { DockerConfigCredentialStore, ReferrerStore, RegistryClient } from './registry';
import { SigningService } from './signing';

export interface App {
  grpc: GrpcServer;
  signing: SigningService;
  registry: RegistryClient;
  /** Starts serving; resolves with the bound port. */
  start(): Promise<number>;
  /** Graceful stop (in-flight calls finish within the grace period), then releases connections. */
  stop(): Promise<void>;
}

export function createApp(config: ServiceConfig, logger: Logger): App {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const registry = new RegistryClient({
    credentials: new DockerConfigCredentialStore(config.registry.dockerConfig),
    insecureHosts: config.registry.insecureHosts,
    ca: config.registry.caFile ? readFileSync(config.registry.caFile) : undefined,
    timeoutMs: config.registry.timeoutMs,
    maxRetries: config.registry.maxRetries,
    userAgent: 'countersign/0.1',
  });
  const signing = new SigningService({
    keys: new FileKeyStore(config.keysDir),
    registry,
    referrers: new ReferrerStore(registry),
    maxPredicateBytes: config.limits.maxPredicateBytes,
  });
  // Requests carry predicates; leave room for JSON overhead above the predicate limit.
  const grpc = new GrpcServer({ signing, logger, maxReceiveBytes: config.limits.maxPredicateBytes + 1024 * 1024 });
  let stopping: Promise<void> | undefined;
  return {
    grpc,
    signing,
    registry,
    start: () => grpc.listen(config.listen),
    // Idempotent: a second SIGTERM (or a test's cleanup) waits for the first stop.
    stop: () =>
      (stopping ??= (async () => {
        await grpc.shutdown(config.shutdownGraceMs);
        await registry.close();
      })()),
  };
}
