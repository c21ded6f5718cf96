/**
 * The composition root: the one place that builds the service's parts from its configuration
 * and wires them together. Everything else receives its collaborators.
 */
import cluster from 'node:cluster';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import * as grpcJs from '@grpc/grpc-js';
import { AccessControl, TokenStore, resolveAccessMode, serverCredentials, startupBanner, type AccessMode } from './auth';
import { AuditLog } from './audit';
import { startAdmissionServer, type AdmissionServer } from './admission';
import { startGateServer, type GateServer, type GateServerOptions, type GateVerifier } from './gate';
import type { ServiceConfig } from './config/config';
import { GrpcServer } from './grpc/server';
import { resolveKek } from './keys/kek-source';
import { ManagedKeyStore } from './keys/managed-key-store';
import { legacyKeyFiles } from './keys/legacy-import';
import type { Logger } from './logging/logger';
import { CountersignError } from './shared/errors';
import { IdleMemoryReturn } from './shared/idle-memory';
import { ServedRequests } from './shared/served-requests';
import { HeapHeadroom } from './shared/heap-headroom';
import { describeStoreUrl, PostgresWriteLock } from './coordination';
import { PrometheusMetrics, noopObserver, startMetricsServer, type MetricsServer, type Observer, type WorkerMetrics } from './metrics';
import { DockerConfigCredentialStore, InProcessWriteLock, ReferrerStore, RegistryClient, type WriteLock } from './registry';
import { PolicyStore } from './policy-store';
import { SigningService } from './signing';
import { openStore, type SqlStore } from './store';
import { EvidenceCollector } from './verification/collector';
import { EvidenceCache } from './verification/evidence-cache';
import { VerificationService } from './verification/verification-service';
import { loadTrustedRoots } from './verification/sigstore/trusted-roots-config';
import { isLoopbackListen } from './shared/net';

export interface App {
  grpc: GrpcServer;
  signing: SigningService;
  verification: VerificationService;
  registry: RegistryClient;
  keys: ManagedKeyStore;
  audit: AuditLog;
  tokens: TokenStore;
  accessMode: AccessMode;
  /** Keys, tokens and the audit chain: the SQLite file in the data directory, or PostgreSQL (store.url). */
  store: SqlStore;
  policies: PolicyStore;
  cache: EvidenceCache;
  /** Under limits.returnMemoryWhenIdle: started with the service (src/shared/idle-memory.ts). */
  idleMemory: IdleMemoryReturn | undefined;
  /** Under limits.heapHeadroomMb: started with the service (src/shared/heap-headroom.ts). */
  heapHeadroom: HeapHeadroom | undefined;
  /** Starts serving; resolves with the bound port. */
  start(): Promise<number>;
  /** The admission webhook, once started (when configured). */
  admission?: AdmissionServer;
  /** The registry gate, once started (when configured): decisions in-process, no network hop. */
  gate?: GateServer;
  /** The metrics port (/metrics, /healthz, /readyz), once started (when configured). */
  metricsServer?: MetricsServer;
  /** Where the layers report metrics: Prometheus when the metrics port is configured, else a no-op (requests counted in `served` either way). */
  observer: Observer;
  /** The requests this process has answered (gRPC calls, admission reviews, gate requests): the idle memory return reads it. */
  served: ServedRequests;
  /**
   * What the metrics port shows of this process: why it is not ready (undefined when it is) and,
   * when asked and configured, its metrics as JSON. The primary of `serve --workers N` serves the
   * port and asks each worker for this (src/cluster).
   */
  report(withMetrics: boolean): Promise<{ notReady?: string; metrics?: WorkerMetrics }>;
  /**
   * Graceful stop: in-flight calls and admission reviews may finish within the grace period; then
   * whatever still waits on a registry is cancelled and connections are destroyed, so stop()
   * ends soon after the grace whatever the registry does.
   */
  stop(): Promise<void>;
}

export interface CreateAppOptions {
  /**
   * false: collect metrics but leave the metrics port to someone else (a worker of
   * `serve --workers N`, whose primary serves the port for all of them through `report`).
   */
  serveMetricsPort?: boolean;
  /**
   * In a worker of `serve --workers N`: the referrer-index write lock its primary holds for all
   * of its workers (src/cluster), used under `registry.exclusiveReferrerWrites`.
   */
  workerWriteLock?: WriteLock;
  /** This process is a Node cluster worker (whichever primary forked it). Default: node:cluster says. */
  clusterWorker?: boolean;
}

/**
 * The lock around each write of a subject's referrers fallback index. A shared store's lock
 * excludes every replica whatever the setting. Under `registry.exclusiveReferrerWrites` (the
 * operator's word that no process outside this service writes those tags) one process's mutex, or
 * the lock the `serve --workers` primary holds for its workers, excludes every writer too, and
 * Sign skips its settle delay. A cluster worker without its primary's lock (forked by another
 * primary, such as pm2's cluster mode) cannot honour the setting: a startup error, never a
 * silently weaker guarantee. Otherwise (undefined) the in-process mutex and the settle delay.
 */
export function referrerWriteLock(
  config: Pick<ServiceConfig, 'registry'>,
  opts: { shared?: WriteLock; workerWriteLock?: WriteLock; clusterWorker: boolean },
): WriteLock | undefined {
  if (opts.shared) return opts.shared;
  if (!config.registry.exclusiveReferrerWrites) return undefined;
  if (opts.workerWriteLock) return opts.workerWriteLock;
  if (opts.clusterWorker) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      'registry.exclusiveReferrerWrites cannot be honoured here: this process is a Node cluster worker not started by ' +
        '`countersign serve --workers N`, so its sibling processes would write the same referrer tags without a common lock. ' +
        'Run `countersign serve --workers N` (its primary holds the lock), set store.url (a lock in PostgreSQL), or remove the setting.',
    );
  }
  return new InProcessWriteLock({ soleWriter: true });
}

/** How often Watch streams of grpc.health.v1 are brought up to date with the store's health. */
const STORE_WATCH_MS = 5000;

export async function createApp(config: ServiceConfig, logger: Logger, opts: CreateAppOptions = {}): Promise<App> {
  // Sigstore trusted roots: parsed and validated once, first (an invalid root is a startup error
  // naming the field, before anything is opened).
  const trustedRoots = loadTrustedRoots(config.verification);
  // Assigned once the metrics (which read the cache) exist; the registry and the store report through it.
  let observer: Observer = noopObserver;
  // Replicas sharing a PostgreSQL (store.url) keep keys, tokens and the audit chain there and
  // serialize referrer-index writes through it. Unreachable, refusing or a newer schema: a startup
  // error, before anything else opens.
  const writeLock = config.store ? await PostgresWriteLock.connect(config.store.url) : undefined;
  mkdirSync(config.dataDir, { recursive: true, mode: 0o700 });
  const backend = config.store ? 'postgres' : 'sqlite';
  let store: SqlStore;
  try {
    store = await openStore({
      dataDir: config.dataDir,
      ...(config.store ? { url: config.store.url } : {}),
      observe: (operation, seconds) => observer.storeOperation?.(operation, backend, seconds),
    });
  } catch (err) {
    await writeLock?.close();
    throw err;
  }
  try {
    return await assemble(config, logger, opts, { trustedRoots, store, writeLock, observe: (o) => (observer = o) });
  } catch (err) {
    // A startup error after the store opened (a wrong KEK, an invalid policy): nothing stays
    // connected, so the process can exit.
    await store.close();
    await writeLock?.close();
    throw err;
  }
}

async function assemble(
  config: ServiceConfig,
  logger: Logger,
  opts: CreateAppOptions,
  opened: {
    trustedRoots: ReturnType<typeof loadTrustedRoots>;
    store: SqlStore;
    writeLock: PostgresWriteLock | undefined;
    observe: (observer: Observer) => void;
  },
): Promise<App> {
  const { trustedRoots, store, writeLock } = opened;
  const referrerLock = referrerWriteLock(config, {
    ...(writeLock ? { shared: writeLock } : {}),
    ...(opts.workerWriteLock ? { workerWriteLock: opts.workerWriteLock } : {}),
    clusterWorker: opts.clusterWorker ?? cluster.isWorker,
  });
  if (config.registry.exclusiveReferrerWrites && !writeLock)
    logger.info(
      { exclusiveReferrerWrites: true, lock: opts.workerWriteLock ? 'serve --workers primary' : 'this process' },
      'this service is the only writer of the referrers fallback tags: Sign writes without the settle delay',
    );
  let observer: Observer = noopObserver;
  if (config.store)
    logger.info(
      { store: describeStoreUrl(config.store.url) },
      'keys, tokens and the audit chain in the shared store; referrer-index writes serialized across replicas',
    );
  const audit = await AuditLog.open(store);
  const kekFromEnv = process.env.COUNTERSIGN_KEK;
  // Read once and taken out: the environment is inherited by every process this one starts and
  // written into Node's diagnostic reports (/proc/PID/environ keeps what the process started with:
  // COUNTERSIGN_KEK_FILE is the better place for a KEK).
  delete process.env.COUNTERSIGN_KEK;
  const kek = resolveKek({
    dataDir: config.dataDir,
    listen: config.listen,
    ...(config.kekFile ? { kekFile: config.kekFile } : {}),
    ...(kekFromEnv ? { kekBase64: kekFromEnv } : {}),
    sharedStore: config.store?.url !== undefined,
  });
  for (const warning of kek.warnings) logger.warn({}, warning);
  if (kek.development) {
    logger.warn(
      { kekFile: path.join(config.dataDir, 'development-kek'), generated: Boolean(kek.generated) },
      'DEVELOPMENT KEY-ENCRYPTION KEY IN USE: private keys are sealed with a key stored next to them. ' +
        'Set COUNTERSIGN_KEK_FILE for any real deployment.',
    );
  }
  const keys = await ManagedKeyStore.open(store, kek.kek, audit);
  const legacy = await keys.importLegacy(legacyKeyFiles(config.keysDir, config.trustDir));
  for (const k of legacy.imported) logger.info({ key: k.name, id: k.id, purpose: k.purpose }, 'imported key from the keys directory');
  for (const problem of legacy.problems) logger.warn({ problem }, 'key file not imported');
  const registry = new RegistryClient({
    credentials: new DockerConfigCredentialStore(existingDockerConfig(config.registry.dockerConfig)),
    insecureHosts: config.registry.insecureHosts,
    ca: config.registry.caFile ? readFileSync(config.registry.caFile) : undefined,
    timeoutMs: config.registry.timeoutMs,
    maxRetries: config.registry.maxRetries,
    userAgent: 'countersign/0.1',
    observer: { registryRequest: (m, st, sec) => observer.registryRequest(m, st, sec) },
  });
  // An invalid policy file at startup is a startup error; later invalid edits keep the last good one.
  // Without a file the policy is the one set through SetPolicy (kept in the store), else the default.
  const policies = await PolicyStore.open(config.policyFile, { logger, stored: { store, audit } });
  const trust = keys.trust;
  const cache = new EvidenceCache({
    ttlMs: config.verification.cacheTtlMs,
    negativeTtlMs: config.verification.negativeCacheTtlMs,
    ...(config.verification.cacheMaxEntries !== undefined ? { maxEntries: config.verification.cacheMaxEntries } : {}),
    ...(config.verification.cacheRefreshAfterMs !== undefined ? { refreshAfterMs: config.verification.cacheRefreshAfterMs } : {}),
  });
  // Metrics only when the port is configured: otherwise nothing is collected at all.
  const metrics = config.metrics.listen
    ? new PrometheusMetrics({ cache, trustRevision: () => trust.revision(), policyRevision: () => policies.current().revision })
    : undefined;
  // Every answered request is also counted, for the idle memory return (served-requests.ts).
  const served = new ServedRequests();
  observer = served.observing(metrics ?? noopObserver);
  opened.observe(observer);
  const verification = new VerificationService({
    registry,
    collector: new EvidenceCollector({
      client: registry,
      trust,
      trustedRoots,
    }),
    cache,
    trust,
    policies,
    maxDurationMs: config.verification.maxDurationMs,
    ...(config.verification.cacheMaxEntries !== undefined ? { manifestFactsMaxEntries: config.verification.cacheMaxEntries } : {}),
  });
  if (metrics) observeDecisions(verification, observer);
  const signing = new SigningService({
    keys,
    registry,
    referrers: new ReferrerStore(registry, {
      ...(referrerLock ? { writeLock: referrerLock } : {}),
      onlyWriter: config.registry.exclusiveReferrerWrites,
    }),
    maxPredicateBytes: config.limits.maxPredicateBytes,
    onReferrerAdded: (repo, digest) => verification.referrerAdded(repo, digest),
  });
  // Access control: enforce unless explicitly in development mode on loopback (or nothing is
  // configured and the service only listens on loopback, which the banner says loudly).
  const tokens = await TokenStore.open(store, { audit });
  const accessMode = resolveAccessMode({
    ...(config.auth.mode ? { requested: config.auth.mode } : {}),
    listen: config.listen,
    credentialsConfigured: tokens.anyActive() || config.auth.mtlsBindings.length > 0 || Boolean(config.auth.tls),
  });
  if (startupBanner(accessMode, config.listen)) {
    logger.warn(
      { accessMode, listen: config.listen },
      'ACCESS CONTROL IS OFF: development mode, every caller has every role (loopback only)',
    );
  }
  if (!config.auth.tls && !isLoopbackListen(config.listen)) {
    // Clients refuse this by default (src/grpc/channel-credentials.ts) and need COUNTERSIGN_PLAINTEXT=1:
    // say why on this side too. Allowed, not refused: a mesh may encrypt the hop, and the kubelet's
    // grpc probes cannot speak TLS.
    logger.warn(
      { listen: config.listen },
      'gRPC is served in plaintext beyond loopback: bearer tokens and imported private keys cross the network in the clear unless something else encrypts the hop (configure auth.tls)',
    );
  }
  if (config.auth.mtlsBindings.length > 0 && !config.auth.tls?.clientCaFile) {
    // Fails closed (no certificate is verified, so no binding matches), but the mistake must not be silent.
    logger.warn(
      { bindings: config.auth.mtlsBindings.length },
      'auth.mtlsBindings are configured, but no client CA verifies client certificates (auth.tls.clientCaFile): no binding can ever match',
    );
  }
  const guard = new AccessControl({
    mode: accessMode,
    tokens,
    mtlsBindings: config.auth.mtlsBindings,
    audit,
    logger,
    listen: config.listen,
  });
  const credentials = config.auth.tls ? serverCredentials(config.auth.tls) : grpcJs.ServerCredentials.createInsecure();
  // Requests carry predicates; leave room for JSON overhead above the predicate limit.
  const grpc = new GrpcServer({
    signing,
    verification,
    keys,
    policies,
    guard,
    credentials,
    logger,
    maxReceiveBytes: config.limits.maxPredicateBytes + 1024 * 1024,
    observer,
    storeHealth: () => store.health(),
  });
  let stopping: Promise<void> | undefined;
  let started = false;
  // gRPC health follows the store's health (as /readyz does): read on every Check (storeHealth
  // above), and every 5 s for Watch streams (one wake-up a second cost an idle process on a small
  // VM a measurable share of its CPU).
  const storeWatch = setInterval(() => grpc.reportStore(store.health()), STORE_WATCH_MS);
  storeWatch.unref();
  const memory = memoryUpkeep(config, logger, served);
  /** The HTTP front doors beside gRPC (metrics, the webhook, the in-process gate), as configured. */
  async function startFrontDoors(): Promise<void> {
    if (metrics && config.metrics.listen && opts.serveMetricsPort !== false) {
      app.metricsServer = await startMetricsServer({
        listen: config.metrics.listen,
        metrics,
        notReady: () => notReady(started, stopping, store),
      });
      logger.info({ listen: config.metrics.listen, port: app.metricsServer.port }, 'metrics serving on /metrics (and /healthz, /readyz)');
    }
    if (config.admission.listen) {
      const tls =
        config.admission.tlsCertFile && config.admission.tlsKeyFile
          ? { cert: readFileSync(config.admission.tlsCertFile), key: readFileSync(config.admission.tlsKeyFile) }
          : undefined;
      app.admission = await startAdmissionServer({
        listen: config.admission.listen,
        ...(tls ? { tls } : {}),
        verifier: verification,
        logger,
        timeoutMs: config.admission.timeoutMs,
        observer,
      });
      logger.info(
        { listen: config.admission.listen, port: app.admission.port, tls: Boolean(tls) },
        'admission webhook serving on /validate',
      );
    }
    if (config.gate.listen && config.gate.upstream) {
      let catchingUp = 0;
      app.gate = await startGateServer({
        ...gateOptions(config, verification, logger),
        observer,
        // Read from the stores themselves: a revocation or a policy reload ends reuse of the gate's
        // decisions at once. While the keys or the stored policy may predate a change announced
        // elsewhere (a re-read under way, which Verify waits for, or failed: stale, behind), a
        // revision nothing was remembered under, so that nothing is reused that Verify itself
        // would not answer the same.
        currentRevision: () =>
          trust.settled?.() !== undefined ||
          trust.stale?.() !== undefined ||
          policies.settled() !== undefined ||
          policies.behind() !== undefined
            ? `keys or policy catching up ${++catchingUp}`
            : `${policies.current().revision} ${trust.revision()}`,
        // Replicas sharing store.url serialize tag writes (immutable tags) across processes.
        ...(writeLock ? { tagLock: writeLock } : {}),
      });
      logger.info(
        { listen: config.gate.listen, port: app.gate.port, upstream: config.gate.upstream },
        'registry gate serving (decisions in-process)',
      );
    }
  }

  const app: App = {
    grpc,
    signing,
    verification,
    registry,
    keys,
    audit,
    tokens,
    accessMode,
    store,
    policies,
    cache,
    idleMemory: memory.idleMemory,
    heapHeadroom: memory.heapHeadroom,
    observer,
    served,
    async report(withMetrics) {
      const why = notReady(started, stopping, store);
      return {
        ...(why !== undefined ? { notReady: why } : {}),
        ...(withMetrics && metrics ? { metrics: await metrics.json() } : {}),
      };
    },
    async start() {
      grpc.reportStore(store.health());
      const port = await grpc.listen(config.listen);
      try {
        await startFrontDoors();
      } catch (err) {
        // One that cannot start stops the others: a process serving gRPC without the webhook or
        // gate it was asked for looks alive to its supervisor while checking nothing.
        await app.stop().catch(() => undefined);
        throw err;
      }
      memory.start();
      started = true;
      return port;
    },
    // Idempotent: a second SIGTERM (or a test's cleanup) waits for the first stop.
    stop: () =>
      (stopping ??= (async () => {
        clearInterval(storeWatch);
        memory.stop();
        // Every front door stops taking work at once; gRPC and the webhook share one grace period.
        await Promise.all([app.gate?.close(), app.admission?.close(config.shutdownGraceMs), grpc.shutdown(config.shutdownGraceMs)]);
        // Grace over: cancel the registry requests still in flight (their calls fail or deny at
        // once) and drop the connections; this never waits for a slow registry.
        await registry.close();
        // Readiness said "stopping" from the first moment; the port goes last, with the store.
        await app.metricsServer?.close();
        await guard.close();
        policies.close();
        keys.close();
        tokens.close();
        await store.close();
        await writeLock?.close();
      })()),
  };
  return app;
}

/** Why the service is not ready (undefined when it is): not started, stopping, or its store does not answer. */
function notReady(started: boolean, stopping: Promise<void> | undefined, store: SqlStore): string | undefined {
  if (stopping) return 'shutting down';
  if (!started) return 'starting';
  const problem = store.health();
  return problem === undefined ? undefined : `the store does not answer: ${problem}`;
}

/**
 * Every Verify decision, whoever asked (gRPC, the admission webhook, the in-process gate), is
 * counted here at the composition root, so that the verification service itself carries no metrics code.
 */
function observeDecisions(verification: VerificationService, observer: Observer): void {
  const verify = verification.verify.bind(verification);
  verification.verify = async (input) => {
    const result = await verify(input);
    observer.decision({ action: input.action, rule: result.rule, mode: result.mode, result: result.allowed ? 'allow' : 'deny' });
    return result;
  };
}

/**
 * Under `limits.returnMemoryWhenIdle` (the default), one memory-reducing GC once load stops
 * (src/shared/idle-memory.ts), logged with what it gave back; started by whoever serves.
 */
export function idleMemoryReturn(
  config: Pick<ServiceConfig, 'limits'>,
  logger: Logger,
  served?: ServedRequests,
): IdleMemoryReturn | undefined {
  if (!config.limits.returnMemoryWhenIdle) return undefined;
  const mb = (bytes: number): number => Math.round(bytes / 2 ** 20);
  return new IdleMemoryReturn({
    ...(served ? { served: () => served.count } : {}),
    onReturn: ({ rssBefore, rssAfter, pauseMs }) =>
      logger.info(
        { rssBeforeMb: mb(rssBefore), rssAfterMb: mb(rssAfter), pauseMs: Math.round(pauseMs) },
        'idle after load: memory returned to the system (one memory-reducing GC)',
      ),
  });
}

/** Under `limits.heapHeadroomMb` (0: off), the V8 heap's growth held to it; started by whoever serves. */
export function heapHeadroomOf(config: Pick<ServiceConfig, 'limits'>): HeapHeadroom | undefined {
  return config.limits.heapHeadroomMb > 0 ? new HeapHeadroom({ headroomMb: config.limits.heapHeadroomMb }) : undefined;
}

/** What a serving process does about its own memory (each part as configured), started and stopped together. */
export interface MemoryUpkeep {
  idleMemory: IdleMemoryReturn | undefined;
  heapHeadroom: HeapHeadroom | undefined;
  start(): void;
  stop(): void;
}

/**
 * The memory upkeep of a serving process (the service, `countersign gate`) under `limits`;
 * `served` counts the requests it answers (its observer reports them), so that a window with none is idle.
 */
export function memoryUpkeep(config: Pick<ServiceConfig, 'limits'>, logger: Logger, served?: ServedRequests): MemoryUpkeep {
  const idleMemory = idleMemoryReturn(config, logger, served);
  const heapHeadroom = heapHeadroomOf(config);
  return {
    idleMemory,
    heapHeadroom,
    start: () => {
      idleMemory?.start();
      heapHeadroom?.start();
    },
    stop: () => {
      idleMemory?.stop();
      heapHeadroom?.stop();
    },
  };
}

/** The gate's options from the configuration; `verifier` is in-process or a gRPC client. */
export function gateOptions(config: Pick<ServiceConfig, 'gate'>, verifier: GateVerifier, logger: Logger): GateServerOptions {
  const g = config.gate;
  return {
    listen: g.listen!,
    upstream: g.upstream!,
    verifier,
    logger,
    allowPlainHttp: g.allowPlainHttp,
    decisionTimeoutMs: g.decisionTimeoutMs,
    ...(g.decisionCacheTtlMs !== undefined ? { decisionCacheTtlMs: g.decisionCacheTtlMs } : {}),
    ...(g.manifestTimeoutMs !== undefined ? { manifestTimeoutMs: g.manifestTimeoutMs } : {}),
    ...(g.registryName ? { registryName: g.registryName } : {}),
    ...(g.upstreamCaFile ? { upstreamCa: readFileSync(g.upstreamCaFile) } : {}),
    ...(g.tlsCertFile && g.tlsKeyFile ? { tls: { cert: readFileSync(g.tlsCertFile), key: readFileSync(g.tlsKeyFile) } } : {}),
  };
}

/**
 * An explicitly configured registry.dockerConfig must exist: a typo in its path would otherwise
 * run every registry call anonymously, found out only as "no credentials" denials later.
 */
function existingDockerConfig(file: string | undefined): string | undefined {
  if (file !== undefined && !existsSync(file)) {
    throw new CountersignError(
      'FAILED_PRECONDITION',
      `registry.dockerConfig ${file} does not exist: fix the path (or remove the setting to use DOCKER_CONFIG or ~/.docker/config.json)`,
    );
  }
  return file;
}
