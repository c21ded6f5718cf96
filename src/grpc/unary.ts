import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Identity } from '../auth';
import type { Logger } from '../logging/logger';
import { CountersignError } from '../shared/errors';
import { samplerFor } from './call-log';
import type { Observer } from '../shared/observer';
import { statusName, toGrpcError } from './status';

/** Fields of a call worth a log line: what was asked and what it resolved to. */
export interface CallFacts {
  image?: string;
  digest?: string;
  /**
   * Set by a handler for a routine outcome (an allowed decision from cached evidence) with the
   * key that identifies it: its line may be summarized (see call-log.ts). Never for a denial.
   */
  routine?: string;
  [key: string]: unknown;
}

export interface UnaryContext {
  call: grpc.ServerUnaryCall<unknown, unknown>;
  /** Facts added while handling, logged with the call. */
  facts: CallFacts;
  callId: string;
  /** Who called, as access control established it (absent when no access control is wired). */
  identity?: Identity;
  /**
   * Aborts when the call is cancelled (the client went away, the server is force-stopped) or its
   * deadline passes: work done for the call (registry requests) takes it, so nothing runs on for
   * a caller that is gone.
   */
  signal: AbortSignal;
}

/** Authenticates and authorizes one call; throws UNAUTHENTICATED / PERMISSION_DENIED. */
export interface CallGuard {
  check(call: grpc.ServerUnaryCall<unknown, unknown>, method: string, request: unknown): Identity | Promise<Identity>;
}

/**
 * Wraps a handler so that every call yields exactly one structured log line (method, image,
 * digest, duration, status) and every failure a gRPC status with an actionable message. The
 * tracker lets graceful shutdown wait for in-flight calls.
 */
/** What every handler shares: where it logs, the in-flight count, and access control. */
export interface HandlerEnv {
  logger: Logger;
  tracker: InFlightTracker;
  guard?: CallGuard;
  /** Metrics: one report per finished call. */
  observer?: Pick<Observer, 'rpc'>;
  /**
   * Called before each answer; a promise it returns is waited for first. `serve --workers` uses it
   * so that the answer to a key change leaves only once every other worker was told of the change
   * (undefined, the usual case, costs nothing).
   */
  beforeReply?: () => Promise<void> | undefined;
}

export function unary<Req, Res>(
  method: string,
  env: HandlerEnv,
  handler: (request: Req, ctx: UnaryContext) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  const { logger, tracker, guard } = env;
  return (call, callback) => {
    const started = process.hrtime.bigint();
    // Made on first use (a log line, an error): a sampled warm call needs none.
    let id: string | undefined;
    const callIdOf = (): string => (id ??= crypto.randomUUID());
    const facts: CallFacts = {};
    const request = call.request as Req & { image?: unknown };
    if (typeof request.image === 'string') facts.image = request.image;
    const c = call as grpc.ServerUnaryCall<unknown, unknown>;
    // Created on first use: a call answered from memory needs no timer or listener.
    let cancel: ReturnType<typeof callSignal> | undefined;
    const signalOf = (): AbortSignal => (cancel ??= callSignal(c)).signal;
    const finished = tracker.begin();
    const succeed = (response: Res): void => {
      log(logger, method, callIdOf, facts, started, grpc.status.OK);
      env.observer?.rpc(method, 'OK', Number(process.hrtime.bigint() - started) / 1e9);
      cancel?.release();
      finished();
      callback(null, response);
    };
    const fail = (err: unknown): void => {
      const mapped = toGrpcError(err, callIdOf());
      log(logger, method, callIdOf, facts, started, mapped.code, mapped.details, mapped.internal ? err : undefined);
      env.observer?.rpc(method, statusName(mapped.code), Number(process.hrtime.bigint() - started) / 1e9);
      cancel?.release();
      finished();
      callback({ code: mapped.code, details: mapped.details });
    };
    const reply = (response: Res): void => {
      const barrier = env.beforeReply?.();
      if (barrier === undefined) succeed(response);
      else barrier.then(() => succeed(response), fail);
    };
    // A call can fail after its write was made (and announced): its answer waits the same way.
    const refuse = (err: unknown): void => {
      const barrier = env.beforeReply?.();
      if (barrier === undefined) fail(err);
      else
        barrier.then(
          () => fail(err),
          () => fail(err),
        );
    };
    const run = (identity: Identity | undefined): Promise<Res> => {
      if (identity) facts.caller = identity.subject;
      const ctx: UnaryContext = {
        call: c,
        facts,
        get callId() {
          return callIdOf();
        },
        get signal() {
          return signalOf();
        },
        ...(identity ? { identity } : {}),
      };
      return handler(call.request, ctx);
    };
    let pending: Promise<Res>;
    // A refusal (or a handler that throws before its first await) gets the same status mapping and log line.
    try {
      // A guard answers from memory when it can (a known token: no promise, no extra tick); one
      // that must ask the store returns a promise.
      const checked = guard?.check(c, method, call.request);
      pending = checked instanceof Promise ? checked.then(run) : run(checked);
    } catch (err) {
      fail(err);
      return;
    }
    pending.then(reply, refuse);
  };
}

/** A signal for one call: fires on cancellation or at the call's deadline (the client's, if it set one). */
function callSignal(call: grpc.ServerUnaryCall<unknown, unknown>): { signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  const onCancel = (): void =>
    controller.abort(new CountersignError('DEADLINE_EXCEEDED', 'the call was cancelled (its client went away or the server is stopping)'));
  call.once('cancelled', onCancel);
  let timer: NodeJS.Timeout | undefined;
  const deadline = call.getDeadline();
  const at = deadline instanceof Date ? deadline.getTime() : deadline;
  if (Number.isFinite(at)) {
    timer = setTimeout(
      () => controller.abort(new CountersignError('DEADLINE_EXCEEDED', "the call's deadline passed")),
      Math.max(0, at - Date.now()),
    );
    timer.unref();
  }
  if (call.cancelled) onCancel();
  return {
    signal: controller.signal,
    release() {
      if (timer !== undefined) clearTimeout(timer);
      call.removeListener('cancelled', onCancel);
    },
  };
}

function log(
  logger: Logger,
  method: string,
  callId: () => string,
  facts: CallFacts,
  started: bigint,
  code: grpc.status,
  message?: string,
  internalError?: unknown,
): void {
  if (code === grpc.status.OK && facts.routine !== undefined && !samplerFor(logger).admit(method, facts.routine)) return;
  const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  const { routine: _routine, ...logged } = facts;
  const line = {
    method,
    callId: callId(),
    ...logged,
    durationMs: Math.round(durationMs * 1000) / 1000,
    status: statusName(code),
    ...(message ? { error: message } : {}),
    ...(internalError instanceof Error ? { stack: internalError.stack } : {}),
  };
  if (code === grpc.status.OK) logger.info(line, 'call');
  else if (internalError) logger.error(line, 'call failed');
  else logger.warn(line, 'call failed');
}

/** Counts calls in flight so that shutdown can wait for them to finish. */
export class InFlightTracker {
  private count = 0;
  private waiters: Array<() => void> = [];

  begin(): () => void {
    this.count++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.count--;
      if (this.count === 0) for (const w of this.waiters.splice(0)) w();
    };
  }

  get inFlight(): number {
    return this.count;
  }

  idle(): Promise<void> {
    return this.count === 0 ? Promise.resolve() : new Promise((resolve) => this.waiters.push(resolve));
  }
}
