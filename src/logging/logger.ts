import pino, { type Logger } from 'pino';
import { cutAtCodePoint } from '../shared/untrusted-text';

export type { Logger } from 'pino';

/** Longest string a log line carries whole (a stack trace fits); longer ones are cut and measured. */
const MAX_LOGGED_CHARS = 4096;
/** Most entries of one array a log line carries (denied images of a Pod, reasons). */
const MAX_LOGGED_ENTRIES = 64;
/** Deepest nesting a log line carries. */
const MAX_LOGGED_DEPTH = 8;

/**
 * A log object with every string, array and nesting level bounded: many fields come from callers
 * and pushers (an image name, a denial reason quoting registry content), and the gRPC server takes
 * messages of megabytes, the webhook reviews of 7 MiB. One line per event, of a bounded size,
 * whichever call site forgot to cut what it logs.
 */
export function boundedForLog(value: unknown, depth = 0): unknown {
  if (typeof value === 'string') {
    if (value.length <= MAX_LOGGED_CHARS) return value;
    return `${value.slice(0, cutAtCodePoint(value, MAX_LOGGED_CHARS))}…(${value.length} chars)`;
  }
  if (typeof value !== 'object' || value === null) return value;
  if (value instanceof Error) return value; // pino's error serializer reads it (err, its stack)
  if (depth >= MAX_LOGGED_DEPTH) return Array.isArray(value) ? '(an array, nested too deep to log)' : '(an object, nested too deep to log)';
  if (Array.isArray(value)) {
    const shown = value.slice(0, MAX_LOGGED_ENTRIES).map((v) => boundedForLog(v, depth + 1));
    return value.length > MAX_LOGGED_ENTRIES ? [...shown, `…(${value.length} entries)`] : shown;
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = boundedForLog(v, depth + 1);
  return out;
}

/**
 * Structured JSON logs (one object per line), bounded (boundedForLog). Redaction is a second line
 * of defence: no code path should ever hand key material or credentials to the logger in the
 * first place. Call sites pass their fields at the top level, so the names are redacted there as
 * well as one level down (`err.password`) and in headers at any of the depths they are logged at.
 */
export function createLogger(opts: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const secrets = ['privateKey', 'password', 'token', 'authorization', 'kek'];
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'countersign' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { log: (object) => boundedForLog(object) as Record<string, unknown> },
      redact: {
        paths: [
          ...secrets,
          ...secrets.map((s) => `*.${s}`),
          'headers.authorization',
          '*.headers.authorization',
          '*.*.headers.authorization',
          'req.headers.authorization',
        ],
        censor: '[redacted]',
      },
    },
    opts.destination,
  );
}
