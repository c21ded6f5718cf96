/**
 * The predicate of a stored attestation as an object. cosign's legacy `--type spdx` stores the SBOM
 * as a JSON *string* inside the statement, so readers must accept that form too (writers here never
 * produce it: {@link preparePredicate} always stores the parsed object).
 */
import { describeDepthViolation, JsonTooDeepError, parseJsonWithinDepth } from '../shared/json-depth';
import { invalid, isObject, type JsonObject } from './json';

export function parsePredicateObject(predicate: unknown): JsonObject {
  if (isObject(predicate)) return predicate;
  if (typeof predicate === 'string') {
    let parsed: unknown;
    try {
      parsed = parseJsonWithinDepth(predicate);
    } catch (err) {
      if (err instanceof JsonTooDeepError)
        throw invalid(`predicate is a string holding a JSON document that ${describeDepthViolation(err.violation)}`);
      throw invalid('predicate is a string that does not hold a JSON document');
    }
    if (isObject(parsed)) return parsed;
  }
  throw invalid(`predicate must be a JSON object, got ${describeJsonType(predicate)}`);
}

export function describeJsonType(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return `a ${typeof value}`;
}
