import pino, { type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured JSON logs (one object per line). Redaction is a second line of defence: no code
 * path should ever hand key material or credentials to the logger in the first place.
 */
export function createLogger(opts: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  return pino(
    {
      level: opts.level ?? 'info',
      base: { service: 'countersign' },
      timestamp: pino.stdTimeFunctions.isoTime,
      redact: {
        paths: ['*.privateKey', '*.password', '*.token', '*.authorization', '*.headers.authorization', 'req.headers.authorization'],
        censor: '[redacted]',
      },
    },
    opts.destination,
  );
}
