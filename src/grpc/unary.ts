import crypto from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import type { Logger } from '../logging/logger';
import { statusName, toGrpcError } from './status';

/** Fields of a call worth a log line: what was asked and what it resolved to. */
export interface CallFacts {
  image?: string;
  digest?: string;
  [key: string]: unknown;
}

export interface UnaryContext {
  call: grpc.ServerUnaryCall<unknown, unknown>;
  /** Facts added while handling, logged with the call. */
  facts: CallFacts;
  callId: string;
}

/**
 * Wraps a handler so that every call yields exactly one structured log line (method, image,
 * digest, duration, status) and every failure a gRPC status with an actionable message. The
 * tracker lets graceful shutdown wait for in-flight calls.
 */
export function unary<Req, Res>(
  method: string,
  logger: Logger,
  tracker: InFlightTracker,
  handler: (request: Req, ctx: UnaryContext) => Promise<Res>,
): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    const started = process.hrtime.bigint();
    const callId = crypto.randomUUID();
    const facts: CallFacts = {};
    const request = call.request as Req & { image?: unknown };
    if (typeof request?.image === 'string') facts.image = request.image;
    const done = tracker.begin();
    handler(call.request, { call: call as grpc.ServerUnaryCall<unknown, unknown>, facts, callId })
      .then(
        (response) => {
          log(logger, method, callId, facts, started, grpc.status.OK);
          callback(null, response);
        },
        (err: unknown) => {
          const mapped = toGrpcError(err, callId);
          log(logger, method, callId, facts, started, mapped.code, mapped.details, mapped.internal ? err : undefined);
          callback({ code: mapped.code, details: mapped.details } as grpc.ServiceError);
        },
      )
      .finally(done);
  };
}

function log(
  logger: Logger,
  method: string,
  callId: string,
  facts: CallFacts,
  started: bigint,
  code: grpc.status,
  message?: string,
  internalError?: unknown,
): void {
  const durationMs = Number(process.hrtime.bigint() - started) / 1e6;
  const line = {
    method,
    callId,
    ...facts,
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
