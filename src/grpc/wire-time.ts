/**
 * google.protobuf.Timestamp and Duration on the wire, as @grpc/proto-loader decodes them
 * (`longs: Number`): `{ seconds, nanos }`, or null when unset. Times the caller sends are checked
 * here with messages that name the field; the deprecated RFC 3339 text fields they replaced are
 * still read, and giving both is refused rather than silently preferring one.
 */
import { CountersignError } from '../shared/errors';
import type { Duration__Output } from './generated/google/protobuf/Duration';
import type { Timestamp, Timestamp__Output } from './generated/google/protobuf/Timestamp';

/** Timestamp's own range (RFC 3339 years 0001 to 9999), in seconds since the epoch. */
const MIN_SECONDS = -62_135_596_800;
const MAX_SECONDS = 253_402_300_799;

/** A Date as a Timestamp; null (unset) for undefined. */
export function toTimestamp(d: Date | undefined): Timestamp | null {
  if (d === undefined) return null;
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

function wireNumber(field: string, value: number): number {
  const n = value;
  if (!Number.isSafeInteger(n))
    throw new CountersignError('INVALID_ARGUMENT', `${field}.seconds must be a whole number, got ${JSON.stringify(value)}`);
  return n;
}

/** A Timestamp the caller sent, as a Date (millisecond precision); undefined when unset. */
export function fromTimestamp(field: string, ts: Timestamp__Output | null | undefined): Date | undefined {
  if (ts === null || ts === undefined) return undefined;
  const seconds = wireNumber(field, ts.seconds);
  const nanos = ts.nanos;
  if (seconds < MIN_SECONDS || seconds > MAX_SECONDS) {
    throw new CountersignError(
      'INVALID_ARGUMENT',
      `${field} is outside the range of google.protobuf.Timestamp (years 0001 to 9999), got ${seconds} seconds`,
    );
  }
  if (!Number.isInteger(nanos) || nanos < 0 || nanos > 999_999_999) {
    throw new CountersignError('INVALID_ARGUMENT', `${field}.nanos must be from 0 to 999999999, got ${nanos}`);
  }
  return new Date(seconds * 1000 + Math.floor(nanos / 1_000_000));
}

/** The deprecated RFC 3339 text field: empty is unset. */
export function fromRfc3339(field: string, value: string): Date | undefined {
  if (!value) return undefined;
  const d = new Date(value);
  if (Number.isNaN(d.getTime()))
    throw new CountersignError('INVALID_ARGUMENT', `${field} must be an RFC 3339 time, got ${JSON.stringify(value)}`);
  return d;
}

/**
 * A time sent either as the Timestamp field `typedField` or as the deprecated text field
 * `textField`; both at once is INVALID_ARGUMENT.
 */
export function timeField(
  typedField: string,
  typed: Timestamp__Output | null | undefined,
  textField: string,
  text: string,
): Date | undefined {
  if (typed !== null && typed !== undefined && text) {
    throw new CountersignError('INVALID_ARGUMENT', `give ${typedField} or the deprecated ${textField}, not both`);
  }
  return typed !== null && typed !== undefined ? fromTimestamp(typedField, typed) : fromRfc3339(textField, text);
}

/**
 * A Duration the caller sent, in whole seconds (sign kept: the caller judges the range);
 * undefined when unset. A fraction of a second is refused: nothing here counts below seconds.
 */
export function durationSeconds(field: string, d: Duration__Output | null | undefined): number | undefined {
  if (d === null || d === undefined) return undefined;
  const seconds = wireNumber(field, d.seconds);
  if (d.nanos !== 0)
    throw new CountersignError('INVALID_ARGUMENT', `${field} must be a whole number of seconds, got ${seconds} s and ${d.nanos} ns`);
  return seconds;
}
