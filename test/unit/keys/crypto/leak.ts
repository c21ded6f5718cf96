import { inspect } from 'node:util';
import { CountersignError, type ErrorCode } from '../../../../src/shared/errors';

/** All of a thrown non-Error, whatever it is: String() of an object would hide its fields as [object Object]. */
function textOf(value: unknown): string {
  return typeof value === 'string' ? value : inspect(value, { depth: 10, maxStringLength: Infinity, breakLength: Infinity });
}

/** Runs fn, which must throw a CountersignError, and returns it. */
export function thrown(fn: () => unknown): CountersignError {
  let err: unknown;
  try {
    fn();
  } catch (e) {
    err = e;
  }
  if (!(err instanceof CountersignError)) {
    throw new Error(`expected a CountersignError, got ${err === undefined ? 'no error' : textOf(err)}`);
  }
  return err;
}

/** Everything about an error that could end up in a log or a gRPC status: message, details, stack, causes. */
export function errorText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e !== undefined && e !== null && depth < 10; depth++) {
    if (e instanceof Error) {
      parts.push(e.message, e.stack ?? '');
      const details = (e as { details?: unknown }).details;
      if (details) parts.push(JSON.stringify(details));
      e = e.cause;
    } else {
      parts.push(textOf(e));
      break;
    }
  }
  return parts.join('\n');
}

/**
 * Asserts that none of the secrets (or any 16-character window of them, to catch partial quotes)
 * appears in the error. Secrets shorter than 16 characters are checked whole, shorter than 4 not at all.
 */
export function expectNoLeak(err: unknown, secrets: Array<string | Buffer>): void {
  const text = errorText(err);
  for (const s of secrets) {
    const forms = Buffer.isBuffer(s) ? [s.toString('base64'), s.toString('hex'), s.toString('base64url')] : [s];
    for (const form of forms) {
      // Very short or blank strings (an empty password, "\n") cannot be meaningfully searched for.
      if (form.trim().length < 4) continue;
      const step = 8;
      const win = Math.min(16, form.length);
      for (let i = 0; i + win <= form.length; i += step) {
        const piece = form.slice(i, i + win);
        if (text.includes(piece)) throw new Error(`error text leaks secret material (${JSON.stringify(piece)}): ${text}`);
      }
    }
  }
}

export function expectCode(err: CountersignError, code: ErrorCode, message: RegExp): void {
  expect(err.code).toBe(code);
  expect(err.message).toMatch(message);
}
