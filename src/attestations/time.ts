/**
 * RFC 3339 timestamps, as Go's `time.Time` marshals them (cosign, Trivy and Grype are Go programs).
 * `Date.parse` is deliberately not used on its own: it accepts many non-RFC 3339 forms
 * ("2022-04-12", "April 12 2022") and would silently misread local times, and a scan time is a
 * security input (verifiers enforce a maximum scan age).
 */

/**
 * Upper-case `T` and `Z` only: RFC 3339 allows lower case, but Go's `time.Parse(time.RFC3339, …)`
 * (which cosign uses to read these predicates back) does not, and a predicate that cosign cannot
 * parse is useless to its users.
 */
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(?:(Z)|([+-])(\d{2}):(\d{2}))$/;

/** Parses an RFC 3339 date-time (with a mandatory offset); undefined when it is not one. */
export function parseRfc3339(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined;
  const m = RFC3339.exec(value);
  if (!m) return undefined;
  const [year, month, day, hour, minute, second] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const millis = m[7] ? Number(m[7].padEnd(3, '0').slice(0, 3)) : 0;
  // Leap seconds (:60) are refused, as Go's parser refuses them.
  if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59) return undefined;
  // Date would roll 31 February over into March; refuse instead of accepting a different day.
  if (day < 1 || !isValidDayForYear(year, month, day)) return undefined;
  let offsetMinutes = 0;
  if (!m[8]) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return undefined;
    offsetMinutes = (m[9] === '-' ? -1 : 1) * (oh * 60 + om);
  }
  // setUTCFullYear rather than Date.UTC, which maps years 0000-0099 to 1900-1999.
  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  return new Date(date.getTime() - offsetMinutes * 60_000);
}

function isValidDayForYear(year: number, month: number, day: number): boolean {
  const daysInMonth = [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1];
  return daysInMonth !== undefined && day <= daysInMonth;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

/**
 * Go's zero `time.Time` marshals as "0001-01-01T00:00:00Z". cosign's own test predicates carry it,
 * and it means "never set", not a real scan time.
 */
export function isGoZeroTime(date: Date): boolean {
  return date.getUTCFullYear() <= 1;
}
