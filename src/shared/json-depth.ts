/**
 * A bound on how deeply JSON from users and registries may nest. JSON.parse itself survives any
 * depth, but whatever walks or re-serializes the result recursively does not: JSON.stringify of a
 * 100,000-deep predicate throws a RangeError (stack overflow) in the middle of a Sign, which used to
 * surface as INTERNAL. Real documents are shallow (an SPDX or CycloneDX SBOM, a Trivy or Grype
 * report: under 20 levels; nested CycloneDX components add two per level), so the bound is
 * generous for them and far below any stack limit.
 */

/** The deepest nesting of arrays and objects accepted (the top-level object or array is level 1). */
export const MAX_JSON_DEPTH = 128;

export interface JsonDepthViolation {
  /** The limit that was exceeded. */
  limit: number;
  /** Where the first array or object beyond the limit opens (0-based UTF-16 offset, 1-based line and column). */
  offset: number;
  line: number;
  column: number;
}

/**
 * Scans JSON text (already known to parse) for nesting deeper than `limit`, without recursion and
 * without building anything: one pass over the characters, tracking only whether it is inside a
 * string and the current depth. Returns where the limit is first exceeded, or undefined.
 */
export function jsonDepthViolation(text: string, limit: number = MAX_JSON_DEPTH): JsonDepthViolation | undefined {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */)
        i++; // skip the escaped character (an escaped quote does not end the string)
      else if (c === 0x22 /* " */) inString = false;
      continue;
    }
    if (c === 0x22) inString = true;
    else if (c === 0x7b /* { */ || c === 0x5b /* [ */) {
      if (++depth > limit) return { limit, offset: i, ...lineColumn(text, i) };
    } else if (c === 0x7d /* } */ || c === 0x5d /* ] */) depth--;
  }
  return undefined;
}

/** "nests arrays and objects deeper than 128 levels (line 1, column 129)". */
export function describeDepthViolation(v: JsonDepthViolation): string {
  return `nests arrays and objects deeper than ${v.limit} levels (the limit) at line ${v.line}, column ${v.column}`;
}

/** Thrown by {@link parseJsonWithinDepth}; a SyntaxError so that callers treating bad JSON alike need no change. */
export class JsonTooDeepError extends SyntaxError {
  constructor(readonly violation: JsonDepthViolation) {
    super(`JSON ${describeDepthViolation(violation)}`);
    this.name = 'JsonTooDeepError';
  }
}

/** JSON.parse that also refuses nesting deeper than {@link MAX_JSON_DEPTH} (with a {@link JsonTooDeepError}). */
export function parseJsonWithinDepth(text: string, limit: number = MAX_JSON_DEPTH): unknown {
  const value: unknown = JSON.parse(text);
  // Only containers can nest: a scalar (the common case for small fields) needs no scan.
  if (typeof value === 'object' && value !== null) {
    const violation = jsonDepthViolation(text, limit);
    if (violation) throw new JsonTooDeepError(violation);
  }
  return value;
}

function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
