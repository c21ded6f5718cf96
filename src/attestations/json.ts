/**
 * Small helpers for reading untyped JSON. Predicates arrive from CI users (when attesting) and from
 * the registry (when verifying), so nothing about their shape can be assumed: every access goes
 * through these guards instead of casts.
 */
import { CountersignError } from '../shared/errors';

export type JsonObject = Record<string, unknown>;

/** A plain JSON object (not an array, not null). */
export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** A JSON array, whose members are as untyped as the rest (`Array.isArray` alone narrows to `any[]`). */
export function isList(value: unknown): value is unknown[] {
  return Array.isArray(value);
}

/** A string with at least one non-blank character. */
export function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.trim() !== '' ? value : undefined;
}

/** Reads a nested field, e.g. `field(doc, 'descriptor', 'db', 'built')`; undefined when any step is missing. */
export function field(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (!isObject(current) || !Object.prototype.hasOwnProperty.call(current, key)) return undefined;
    current = current[key];
  }
  return current;
}

/** Shorthand for `CountersignError('INVALID_ARGUMENT', …)`, the error every validation failure uses. */
export function invalid(message: string, details?: Record<string, unknown>): CountersignError {
  return new CountersignError('INVALID_ARGUMENT', message, details ? { details } : undefined);
}

/**
 * Finds where a JSON text stops being valid, so an error can say "line 3 column 14" even when
 * V8's message does not include a position (it omits it for "Unexpected token" errors).
 * Only called after JSON.parse has already failed. Iterative, so deeply nested input cannot
 * overflow the stack.
 */
export function locateJsonError(text: string): { offset: number; line: number; column: number } {
  const offset = findJsonErrorOffset(text);
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

function findJsonErrorOffset(text: string): number {
  let i = 0;
  const n = text.length;
  // Each stack entry is the container we are inside: '{' or '['.
  const stack: string[] = [];
  const skipWs = (): void => {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
  };
  const readString = (): boolean => {
    if (text[i] !== '"') return false;
    i++;
    while (i < n) {
      const c = text.charCodeAt(i);
      if (c === 34) {
        i++;
        return true;
      }
      if (c < 0x20) return false;
      if (c === 92) {
        const e = text[i + 1];
        if (e === undefined) {
          i++;
          return false;
        }
        if (e === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) {
            i++;
            return false;
          }
          i += 6;
          continue;
        }
        if (!'"\\/bfnrt'.includes(e)) {
          i++;
          return false;
        }
        i += 2;
        continue;
      }
      i++;
    }
    return false;
  };
  const readScalar = (): boolean => {
    for (const word of ['true', 'false', 'null']) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return true;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (m && m[0] !== '' && m[0] !== '-') {
      i += m[0].length;
      return true;
    }
    return false;
  };
  // States: expecting a value, or having just finished one.
  let expectValue = true;
  skipWs();
  while (true) {
    skipWs();
    if (expectValue) {
      if (i >= n) return i;
      const c = text[i];
      if (c === '{') {
        i++;
        skipWs();
        if (text[i] === '}') {
          i++;
          expectValue = false;
          continue;
        }
        stack.push('{');
        if (!readString()) return i;
        skipWs();
        if (text[i] !== ':') return i;
        i++;
        continue;
      }
      if (c === '[') {
        i++;
        skipWs();
        if (text[i] === ']') {
          i++;
          expectValue = false;
          continue;
        }
        stack.push('[');
        continue;
      }
      if (c === '"') {
        if (!readString()) return i;
      } else if (!readScalar()) {
        return i;
      }
      expectValue = false;
      continue;
    }
    const top = stack[stack.length - 1];
    if (top === undefined) return i >= n ? n : i; // trailing garbage after the top-level value
    if (text[i] === ',') {
      i++;
      skipWs();
      if (top === '{') {
        if (!readString()) return i;
        skipWs();
        if (text[i] !== ':') return i;
        i++;
      }
      expectValue = true;
      continue;
    }
    if ((top === '{' && text[i] === '}') || (top === '[' && text[i] === ']')) {
      stack.pop();
      i++;
      continue;
    }
    return i;
  }
}
