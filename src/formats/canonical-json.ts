import { CountersignError } from '../shared/errors';

/**
 * Canonical JSON: the one serialization of a JSON value that every party computes the same way,
 * so that it can be hashed. Object keys are sorted recursively (by UTF-16 code units, as in
 * RFC 8785), there is no whitespace, and strings and numbers are written as ECMAScript's
 * JSON.stringify writes them (which is what RFC 8785 specifies for both). For the plain JSON
 * values accepted here the output is RFC 8785 (JCS) output.
 *
 * Only plain JSON is accepted: null, booleans, finite numbers, strings, arrays and plain objects.
 * Object members whose value is `undefined` are left out (as JSON.stringify does). Anything else
 * (undefined in an array, NaN or Infinity, bigint, functions, symbols, Dates and other class
 * instances, cycles) is refused with INVALID_ARGUMENT naming where it is, rather than converted
 * in some way a verifier elsewhere might not reproduce.
 *
 * Parsing the output with JSON.parse and serializing again gives the same string.
 */
export function canonicalJson(value: unknown): string {
  const parts: string[] = [];
  write(value, '$', parts, new Set());
  return parts.join('');
}

function write(value: unknown, where: string, out: string[], ancestors: Set<object>): void {
  if (value === null) {
    out.push('null');
    return;
  }
  switch (typeof value) {
    case 'boolean':
      out.push(value ? 'true' : 'false');
      return;
    case 'string':
      out.push(JSON.stringify(value));
      return;
    case 'number':
      if (!Number.isFinite(value)) refuse(where, `the number ${value} has no JSON form`);
      // -0 is written as 0, as JSON.stringify and RFC 8785 do.
      out.push(JSON.stringify(value));
      return;
    case 'object':
      break;
    default:
      refuse(where, `a ${typeof value} is not a JSON value`);
  }
  const obj = value;
  if (ancestors.has(obj)) refuse(where, 'the value contains a cycle');
  ancestors.add(obj);
  if (Array.isArray(obj)) {
    out.push('[');
    for (let i = 0; i < obj.length; i++) {
      if (i > 0) out.push(',');
      const item: unknown = obj[i];
      if (item === undefined) refuse(`${where}[${i}]`, 'undefined is not a JSON value');
      write(item, `${where}[${i}]`, out, ancestors);
    }
    out.push(']');
  } else {
    const proto: unknown = Object.getPrototypeOf(obj);
    if (proto !== Object.prototype && proto !== null) {
      const name = (obj as { constructor?: { name?: string } }).constructor?.name ?? 'object';
      refuse(where, `a ${name} is not a plain JSON object (convert it first, e.g. a Date to an ISO string)`);
    }
    const record = obj as Record<string, unknown>;
    // Default sort compares UTF-16 code units, which is the order RFC 8785 prescribes.
    const keys = Object.keys(record).sort();
    out.push('{');
    let first = true;
    for (const key of keys) {
      const member = record[key];
      if (member === undefined) continue;
      if (!first) out.push(',');
      first = false;
      out.push(JSON.stringify(key), ':');
      write(member, `${where}.${key}`, out, ancestors);
    }
    out.push('}');
  }
  ancestors.delete(obj);
}

function refuse(where: string, problem: string): never {
  throw new CountersignError('INVALID_ARGUMENT', `cannot serialize ${where} as canonical JSON: ${problem}`);
}
