import * as grpc from '@grpc/grpc-js';
import { CountersignError, type ErrorCode } from '../shared/errors';

const STATUS_OF: Record<ErrorCode, grpc.status> = {
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  NOT_FOUND: grpc.status.NOT_FOUND,
  PERMISSION_DENIED: grpc.status.PERMISSION_DENIED,
  UNAUTHENTICATED: grpc.status.UNAUTHENTICATED,
  UNAVAILABLE: grpc.status.UNAVAILABLE,
  DEADLINE_EXCEEDED: grpc.status.DEADLINE_EXCEEDED,
  ALREADY_EXISTS: grpc.status.ALREADY_EXISTS,
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  RESOURCE_EXHAUSTED: grpc.status.RESOURCE_EXHAUSTED,
  DATA_LOSS: grpc.status.DATA_LOSS,
  INTERNAL: grpc.status.INTERNAL,
};

export interface MappedError {
  code: grpc.status;
  details: string;
  /** True when the failure is ours (a bug), not the caller's or a dependency's. */
  internal: boolean;
}

/**
 * Typed errors keep their message (written for the caller); anything else is a bug whose
 * message may hold internals, so the caller gets a generic text and the log gets the detail.
 */
export function toGrpcError(err: unknown, callId: string): MappedError {
  if (err instanceof CountersignError) {
    return { code: STATUS_OF[err.code], details: err.message, internal: err.code === 'INTERNAL' };
  }
  return { code: grpc.status.INTERNAL, details: `internal error (call ${callId}); the server log has the details`, internal: true };
}

/** A status code's name; a code this grpc-js does not name (a newer peer's) as its number. */
export function statusName(code: number): string {
  const names: Partial<Record<number, string>> = grpc.status;
  return names[code] ?? String(code);
}
