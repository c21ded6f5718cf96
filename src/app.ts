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
import { PolicyStore } from './policy';
import { SigningService } from './signing';
import { KeyDirTrustStore } from './trust';
import { EvidenceCollector } from './verification/collector';
import { EvidenceCache } from './verification/evidence-cache';
import { VerificationService } from './verification/verification-service';

export interface App {
  grpc: GrpcServer;
  signing: SigningService;
  verification: VerificationService;
  registry: RegistryClient;
  trust: KeyDirTrustStore;
  policies: PolicyStore;
  cache: EvidenceCache;
  /** Starts serving; resolves with the bound port. */
  start(): Promise<number>;
  /** Graceful stop (in-flight calls finish within the grace period), then releases connections. */
  stop(): Promise<void>;
}

export async function createApp(config: ServiceConfig, logger: Logger): Promise<App> {
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const registry = new RegistryClient({
    credentials: new DockerConfigCredentialStore(config.registry.dockerConfig),
    insecureHosts: config.registry.insecureHosts,
    ca: config.registry.caFile ? readFileSync(config.registry.caFile) : undefined,
    timeoutMs: config.registry.timeoutMs,
    maxRetries: config.registry.maxRetries,
    userAgent: 'countersign/0.1',
  });
  // An invalid policy file at startup is a startup error; later invalid edits keep the last good one.
  const policies = await PolicyStore.open(config.policyFile, { logger });
  const trust = new KeyDirTrustStore(config.trustDir ?? config.keysDir);
  for (const problem of trust.problems) logger.warn({ problem }, 'trusted key ignored');
  const cache = new EvidenceCache({ ttlMs: config.verification.cacheTtlMs, negativeTtlMs: config.verification.negativeCacheTtlMs });
  const verification = new VerificationService({
    registry,
    collector: new EvidenceCollector({ client: registry, trust }),
    cache,
    trust,
    policies,
    maxDurationMs: config.verification.maxDurationMs,
  });
  const signing = new SigningService({
    keys: new FileKeyStore(config.keysDir),
    registry,
    referrers: new ReferrerStore(registry),
    maxPredicateBytes: config.limits.maxPredicateBytes,
    onReferrerAdded: (repo, digest) => verification.referrerAdded(repo, digest),
  });
  // Requests carry predicates; leave room for JSON overhead above the predicate limit.
  const grpc = new GrpcServer({ signing, verification, logger, maxReceiveBytes: config.limits.maxPredicateBytes + 1024 * 1024 });
  let stopping: Promise<void> | undefined;
  return {
    grpc,
    signing,
    verification,
    registry,
    trust,
    policies,
    cache,
    start: () => grpc.listen(config.listen),
    // Idempotent: a second SIGTERM (or a test's cleanup) waits for the first stop.
    stop: () =>
      (stopping ??= (async () => {
        await grpc.shutdown(config.shutdownGraceMs);
        policies.close();
        trust.close();
        await registry.close();
      })()),
  };
}
