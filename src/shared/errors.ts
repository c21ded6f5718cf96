/**
 * Typed errors shared by every module. Each carries a `code` that says what kind of failure it is,
 * so that the gRPC layer can map it to a status without parsing messages, and so that callers can
 * decide (for example) that a transient registry failure must never be cached or turned into "allow".
 *
 * Messages are written for the person who will read them: what went wrong and what to do about it.
 * They must never contain private key material or credentials.
 */
export type ErrorCode =
  /** The caller's input is malformed: a bad reference, a predicate that is not valid for its type. */
  | 'INVALID_ARGUMENT'
  /** Something named by the caller does not exist: an image, a tag, a key. */
  | 'NOT_FOUND'
  /** The registry (or another dependency) refused our credentials or the caller lacks a right. */
  | 'PERMISSION_DENIED'
  /** No credentials were presented where some are required. */
  | 'UNAUTHENTICATED'
  /** A dependency could not be reached, timed out or answered 5xx; retrying later may work. */
  | 'UNAVAILABLE'
  /** A deadline passed before the work finished. */
  | 'DEADLINE_EXCEEDED'
  /** Something already exists (e.g. a key name). */
  | 'ALREADY_EXISTS'
  /** The request is valid but the current state does not allow it (e.g. a revoked key). */
  | 'FAILED_PRECONDITION'
  /** A size limit was exceeded. */
  | 'RESOURCE_EXHAUSTED'
  /** Data from a dependency is corrupt or violates its format (digest mismatch, malformed manifest). */
  | 'DATA_LOSS'
  /** A bug or an unexpected state on our side. */
  | 'INTERNAL';

export class CountersignError extends Error {
  readonly code: ErrorCode;
  /** Extra machine-readable detail, safe to log and return (never secrets). */
  readonly details?: Record<string, unknown>;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; details?: Record<string, unknown> }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = new.target.name;
    this.code = code;
    if (options?.details) this.details = options.details;
  }
}

/** True when retrying the same operation later could succeed; such failures are never cached. */
export function isTransient(err: unknown): boolean {
  return err instanceof CountersignError && (err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED');
}

/**
 * True when a dependency answered, but what it sent is corrupt, malformed or oversized (a digest
 * mismatch, a manifest that is not what it claims, a body over its limit): a fact about content
 * anyone with push access may have written, to be judged as evidence (a deny), never a failure to
 * collect it (which a policy may turn into an allow through onError).
 */
export function isContentError(err: unknown): boolean {
  return err instanceof CountersignError && (err.code === 'DATA_LOSS' || err.code === 'RESOURCE_EXHAUSTED');
}
