/**
 * When and how long to wait before asking a registry again. Kept apart from the transport so the
 * policy can be read (and tested) on its own.
 */

/** Statuses that mean "not now" rather than "no": rate limiting and overloaded/unreachable upstreams. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 502, 503, 504]);

/**
 * Transport error codes worth another attempt: the request most likely never reached the
 * registry, or the connection broke under it. Header/body timeouts are deliberately absent: a
 * registry that is slow to answer is not helped by asking again at once, and each retry would add
 * another full timeout to the caller's wait.
 */
export const RETRYABLE_ERROR_CODES: ReadonlySet<string> = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ETIMEDOUT',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
]);

/**
 * Parses `Retry-After`: delay-seconds or an HTTP-date (RFC 9110 §10.2.3). Returns milliseconds
 * (never negative), or undefined when absent or unparseable.
 */
export function parseRetryAfter(value: string | string[] | undefined, now: number = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const date = Date.parse(v);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * Exponential backoff with jitter for attempt `attempt` (0 = first retry): a random delay in
 * [base·2^attempt / 2, base·2^attempt], so that many clients hit by the same outage do not come
 * back in lockstep, capped at `maxMs`.
 */
export function backoffDelay(attempt: number, baseMs: number, maxMs: number, random: () => number = Math.random): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** attempt);
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
