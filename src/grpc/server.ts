import * as grpc from '@grpc/grpc-js';
import { ReflectionService } from '@grpc/reflection';
import { HealthImplementation } from 'grpc-health-check';
import type { Logger } from '../logging/logger';
import type { SigningService } from '../signing';
import type { VerificationService } from '../verification/verification-service';
import { loadProtos, serviceConstructor } from './proto';
import { signingHandlers } from './signing-handlers';
import { verificationHandlers, verificationServiceDefinition } from './verification-handlers';
import { keyHandlers } from './key-handlers';
import type { ManagedKeyStore } from '../keys/managed-key-store';
import type { PolicyStore } from '../policy-store';
import { policyHandlers } from './policy-handlers';
import type { Observer } from '../shared/observer';
import { InFlightTracker, type CallGuard, type HandlerEnv } from './unary';

export interface GrpcServerDeps {
  signing: SigningService;
  verification: VerificationService;
  keys: ManagedKeyStore;
  /** The image policy (PolicyService: read it, or set it when it is not managed by a file). */
  policies: PolicyStore;
  logger: Logger;
  /** Access control on every RPC of our services (health and reflection stay open). */
  guard?: CallGuard;
  /** Transport credentials (TLS / mTLS); plaintext when absent. */
  credentials?: grpc.ServerCredentials;
  /** Largest request accepted (predicates travel in requests). */
  maxReceiveBytes: number;
  /** Metrics: every finished call is reported (method, status, latency). */
  observer?: Pick<Observer, 'rpc'>;
  /**
   * The store's health now (undefined: healthy), read on every health Check and List, so that a
   * probe sees the store as it is when it asks and an idle process needs no frequent timer for it.
   * Watch streams are told of a change when any read (or reportStore) notices it.
   */
  storeHealth?: () => string | undefined;
}

const SERVICE_NAMES = [
  'countersign.v1.SigningService',
  'countersign.v1.VerificationService',
  'countersign.v1.KeyService',
  'countersign.v1.PolicyService',
];

/**
 * grpc.health.v1 Watch streams open at once, at most (anyone may open them: no credentials), and
 * of those on names no service here has. Beyond either the call ends at once with
 * RESOURCE_EXHAUSTED, which the health protocol has clients retry with backoff. A load balancer
 * or a client-side health check holds one per connection, on a known name.
 */
const MAX_OPEN_WATCHES = 1024;
const MAX_UNKNOWN_WATCHES = 64;
/**
 * The names of open watches on unknown names, in characters in all: each call holds its request
 * while it is open, and a name may be as long as the largest message (4 MiB by default).
 */
const MAX_UNKNOWN_WATCH_CHARS = 8 * 1024 * 1024;

/** The gRPC surface: our services, grpc.health.v1.Health and server reflection. */
export class GrpcServer {
  readonly server: grpc.Server;
  private readonly health: HealthImplementation;
  private readonly tracker = new InFlightTracker();
  /** Listening and not shutting down. */
  private serving = false;
  /** Why the store cannot be relied on (health reports NOT_SERVING meanwhile), else undefined. */
  private storeProblem: string | undefined;
  /** Open health Watch streams, and those on unknown names with their names' length in all. */
  private readonly watches = { open: 0, unknown: 0, unknownChars: 0 };

  /** Calls being handled now (shutdown waits for them; tests wait for a call to be in flight). */
  get inFlight(): number {
    return this.tracker.inFlight;
  }

  private readonly env: HandlerEnv;

  /** See HandlerEnv.beforeReply (set by `serve --workers` in each worker). */
  setBeforeReply(hook: () => Promise<void> | undefined): void {
    this.env.beforeReply = hook;
  }

  /**
   * The options its grpc.Server was made with: the bench serves a canned-response stub with the
   * same ones, in the same process, so that the service is compared with a floor on its own stack.
   */
  readonly options: Readonly<grpc.ServerOptions>;

  constructor(private readonly deps: GrpcServerDeps) {
    this.options = Object.freeze({
      'grpc.max_receive_message_length': deps.maxReceiveBytes,
      'grpc.max_send_message_length': deps.maxReceiveBytes * 2,
    });
    this.server = new grpc.Server({ ...this.options });
    const env: HandlerEnv = (this.env = {
      logger: deps.logger,
      tracker: this.tracker,
      ...(deps.guard ? { guard: deps.guard } : {}),
      ...(deps.observer ? { observer: deps.observer } : {}),
    });
    this.server.addService(serviceConstructor('SigningService').service, signingHandlers(deps.signing, env));
    this.server.addService(verificationServiceDefinition(), verificationHandlers(deps.verification, env));
    // Key changes are attributed to the authenticated caller (the audit trail's "who").
    this.server.addService(
      serviceConstructor('KeyService').service,
      keyHandlers(deps.keys, env, (ctx) => ctx.identity?.subject ?? 'local'),
    );
    this.server.addService(
      serviceConstructor('PolicyService').service,
      policyHandlers(deps.policies, env, (ctx) => ctx.identity?.subject ?? 'local'),
    );
    this.health = new HealthImplementation({ '': 'NOT_SERVING', ...Object.fromEntries(SERVICE_NAMES.map((s) => [s, 'NOT_SERVING'])) });
    this.health.addToServer(this.freshHealthRegistrar(deps.storeHealth));
    new ReflectionService(loadProtos().definition).addToServer(this.server);
  }

  /** Binds and starts serving; resolves with the bound port (useful with port 0). */
  async listen(address: string): Promise<number> {
    const port = await new Promise<number>((resolve, reject) => {
      this.server.bindAsync(address, this.deps.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
        err ? reject(err) : resolve(p),
      );
    });
    this.serving = true;
    this.publishHealth();
    return port;
  }

  /**
   * The store's health as last seen (undefined: healthy). While it is unhealthy, grpc.health.v1
   * answers NOT_SERVING, like /readyz, so a load balancer sends calls to replicas that can use it.
   */
  reportStore(problem: string | undefined): void {
    if (problem === this.storeProblem) return;
    this.storeProblem = problem;
    this.publishHealth();
  }

  /**
   * Where the health service is added: its Check and List read the store's health first; its
   * Watch is bounded (watch, below).
   */
  private freshHealthRegistrar(storeHealth: (() => string | undefined) | undefined): Parameters<HealthImplementation['addToServer']>[0] {
    return {
      addService: (service, implementation) => {
        type Handler = (call: unknown, callback: unknown) => void;
        type WatchHandler = (call: grpc.ServerWritableStream<{ service: string }, unknown>) => void;
        const fresh =
          (handler: Handler): Handler =>
          (call, callback) => {
            if (storeHealth) this.reportStore(storeHealth());
            handler(call, callback);
          };
        const impl = implementation as Record<string, unknown> & { check: Handler; list: Handler; watch: WatchHandler };
        this.server.addService(service, {
          ...impl,
          check: fresh(impl.check),
          list: fresh(impl.list),
          watch: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => this.watch(call, impl.watch),
        });
      },
    };
  }

  /**
   * grpc.health.v1 Watch. grpc-health-check registers a watcher under any name it is given and
   * never deletes a name whose watchers are gone: a made-up name of megabytes, watched and
   * cancelled, stayed in memory for good. Only the names this server reports on reach it. For any
   * other name the health protocol (doc/health-checking.md) says: send SERVICE_UNKNOWN and do not
   * end the call. No status of such a name will ever be set here, so nothing is registered for
   * it: the call stays open, holding only itself, until the client goes.
   * Open watches are capped (MAX_OPEN_WATCHES, and MAX_UNKNOWN_* for unknown names).
   */
  private watch(
    call: grpc.ServerWritableStream<{ service: string }, unknown>,
    library: (call: grpc.ServerWritableStream<{ service: string }, unknown>) => void,
  ): void {
    // A string always (the health proto is loaded with defaults): '' when the client sent none.
    const name = call.request.service;
    const known = name === '' || SERVICE_NAMES.includes(name);
    const w = this.watches;
    if (
      w.open >= MAX_OPEN_WATCHES ||
      (!known && (w.unknown >= MAX_UNKNOWN_WATCHES || w.unknownChars + name.length > MAX_UNKNOWN_WATCH_CHARS))
    ) {
      call.emit('error', { code: grpc.status.RESOURCE_EXHAUSTED, details: 'too many health watches open; retry later' });
      return;
    }
    const chars = known ? 0 : name.length;
    w.open++;
    w.unknown += known ? 0 : 1;
    w.unknownChars += chars;
    let open = true;
    const release = (): void => {
      if (!open) return;
      open = false;
      w.open--;
      w.unknown -= known ? 0 : 1;
      w.unknownChars -= chars;
    };
    // 'cancelled' when the client goes; 'close' once the stream is done, however it ended.
    call.on('cancelled', release);
    call.on('close', release);
    if (known) library(call);
    else call.write({ status: 'SERVICE_UNKNOWN' });
  }

  private publishHealth(): void {
    const status = this.serving && this.storeProblem === undefined ? 'SERVING' : 'NOT_SERVING';
    for (const name of ['', ...SERVICE_NAMES]) this.health.setStatus(name, status);
  }

  /**
   * Graceful stop: report NOT_SERVING, refuse new calls, let in-flight calls finish within
   * `graceMs`, then cancel what is left.
   */
  async shutdown(graceMs: number): Promise<void> {
    this.serving = false;
    this.publishHealth();
    const stopped = new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    const timer = new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), graceMs).unref());
    const outcome = await Promise.race([Promise.all([stopped, this.tracker.idle()]).then(() => 'done' as const), timer]);
    if (outcome === 'timeout') {
      this.deps.logger.warn({ inFlight: this.tracker.inFlight }, 'shutdown grace period over; cancelling in-flight calls');
      this.server.forceShutdown();
    }
  }
}
