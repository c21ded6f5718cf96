/**
 * The small value languages inside a policy: durations ("72h"), expiry dates ("2027-01-31"),
 * version ranges ("< 2.17.1", ">= 2.0, < 2.17.1") and version comparison. Parsers return an error
 * text instead of throwing so that the loader can report every problem with its line number.
 */
import { parseRfc3339 } from '../attestations';
import { DURATION_UNIT_MS, parseDuration as parseSharedDuration, POLICY_DURATION } from '../shared/duration';
import { firstChange, readTime } from '../shared/watched-date';
import type { VersionConstraint, VersionOperator } from './types';

type Unit = (typeof POLICY_DURATION.units)[number];
const UNIT_MS = DURATION_UNIT_MS;

/**
 * `30m`, `72h`, `7d`, `2w`, `1h30m`. No bare numbers: "72" could be hours or seconds, and a
 * misread maximum scan age is a silent policy hole. The one duration parser, in the policy's
 * dialect (shared/duration.ts), which docs/policy.schema.json's pattern describes.
 */
export function parseDuration(text: string): { ms: number; unit: Unit } | { error: string } {
  return parseSharedDuration(text, POLICY_DURATION);
}

/** An age in the unit the policy author used ("80h", "9.5d"), so "80h old, maximum 72h" reads naturally. */
export function formatDurationIn(ms: number, unit: Unit): string {
  const value = ms / UNIT_MS[unit];
  const rounded = value >= 10 || Number.isInteger(value) ? Math.floor(value) : Math.floor(value * 10) / 10;
  return `${rounded}${unit}`;
}

/**
 * An age in the policy author's unit, or a smaller one when it is less than one of those ("1h old"
 * rather than "0d old" against a maximum of 1d).
 */
export function formatAge(ms: number, unit: Unit): string {
  if (ms >= UNIT_MS[unit]) return formatDurationIn(ms, unit);
  const smaller = (['w', 'd', 'h', 'm', 's'] as const).find((u) => UNIT_MS[u] < UNIT_MS[unit] && ms >= UNIT_MS[u]);
  return formatDurationIn(ms, smaller ?? 'ms');
}

/**
 * How old `since` is at `now` (never below zero), shown in `unit` as formatAge does, and whether
 * that is more than `maxMs`. A bounded reading of the time (readTime): it holds until the shown age
 * changes or the maximum is first exceeded, so a decision made from it may be reused until then.
 */
export function ageAt(since: Date, now: Date, unit: Unit, maxMs: number | undefined): { text: string; exceeded: boolean } {
  const s = since.getTime();
  const textAt = (t: number): string => formatAge(Math.max(0, t - s), unit);
  return readTime(now, (t) => {
    // Written so that a time that is not one (NaN) is too old, never fresh.
    const exceeded = maxMs !== undefined && !(t - s <= maxMs);
    const exceedsAt = exceeded || maxMs === undefined ? Infinity : s + maxMs + 1;
    return [{ text: textAt(t), exceeded }, Math.min(firstChange(t, textAt), exceedsAt)];
  });
}

/**
 * Where an expiry (the first instant something no longer applies) stands at `now`: expired, or
 * not, with the time left in days (formatAge) once it is `warnWithinMs` or less. A bounded reading
 * of the time (readTime): it holds until the expiry, the start of the warning, or the next change
 * of the time left as shown.
 */
export function expiryAt(expires: Date, now: Date, warnWithinMs: number): { expired: boolean; left?: string } {
  const e = expires.getTime();
  return readTime<{ expired: boolean; left?: string }>(now, (t) => {
    // Written so that an expiry that is not a time (NaN) has expired, never holds.
    if (!(e - t > 0)) return [{ expired: true }, Infinity];
    if (e - t > warnWithinMs) return [{ expired: false }, e - warnWithinMs];
    const leftAt = (x: number): string => formatAge(e - x, 'd');
    return [{ expired: false, left: leftAt(t) }, Math.min(e, firstChange(t, leftAt))];
  });
}

/** The unit of a valid duration text (its largest component). */
export function durationUnit(text: string): Unit {
  const parsed = parseDuration(text);
  return 'unit' in parsed ? parsed.unit : 'h';
}

/**
 * An expiry: a date (`2027-01-31`), meaning the exception holds through that whole day in UTC, or
 * an RFC 3339 date-time, meaning it ends at that instant. Returns the first instant at which the
 * exception no longer applies.
 */
export function parseExpiry(text: string): { expires: Date } | { error: string } {
  const date = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (date) {
    const start = parseRfc3339(`${text}T00:00:00Z`);
    if (start === undefined) return { error: `"${text}" is not a valid calendar date` };
    return { expires: new Date(start.getTime() + 86_400_000) };
  }
  const instant = parseRfc3339(text);
  if (instant === undefined) {
    return { error: `"${text}" is not a date (YYYY-MM-DD) or an RFC 3339 date-time such as 2027-01-31T18:00:00Z` };
  }
  return { expires: instant };
}

/**
 * `< 2.17.1`, `>=2.0, <2.17.1` (comma = AND), `= 1.2.3`, or a bare version (= that version).
 * An empty text is an error: "every version" is written by leaving `versions` out.
 */
export function parseVersionRange(text: string): { constraints: VersionConstraint[] } | { error: string } {
  const parts = text.split(',').map((p) => p.trim());
  const constraints: VersionConstraint[] = [];
  for (const part of parts) {
    const m = /^(<=|>=|<|>|==|=)?\s*([0-9A-Za-z][0-9A-Za-z.+_~:-]*)$/.exec(part);
    if (!m) {
      return {
        error:
          `"${text}" is not a version range; use comparisons joined by commas (all must hold), ` +
          'e.g. "< 2.17.1" or ">= 2.0, < 2.17.1" (operators <, <=, >, >=, =)',
      };
    }
    const op = (m[1] === '==' || m[1] === undefined ? '=' : m[1]) as VersionOperator;
    constraints.push({ op, version: m[2]! });
  }
  return { constraints };
}

/**
 * Compares dotted versions: numeric parts numerically (2.10 > 2.9), text parts as text, and a
 * release above its own pre-releases (2.17.1 > 2.17.1-rc1, as in Maven and semver). A leading "v",
 * a Debian epoch ("5:") and a build suffix after "+" are ignored. Two suffixes that follow a release
 * are not pre-releases: a single letter attached to a number (OpenSSL's 1.1.1n > 1.1.1) and an
 * Alpine package revision (3.0.2-r0 > 3.0.2); read as pre-releases, a vulnerable 1.1.1 would have
 * passed "< 1.1.1n". Not a full implementation of any one ecosystem's rules (Maven qualifier
 * ordering); it is right for the dotted numeric versions that deny lists are written with. The
 * epoch is dropped rather than compared because deny lists name upstream versions: 5:2.10 is
 * upstream 2.10, which "< 3.0" should catch.
 */
export function compareVersions(a: string, b: string): number {
  const ta = tokens(a);
  const tb = tokens(b);
  for (let i = 0; i < Math.max(ta.length, tb.length); i++) {
    const x = ta[i];
    const y = tb[i];
    if (x === undefined || y === undefined) {
      // The longer one continues: with a number (2.17.1.1 > 2.17.1) or a post-release suffix it
      // is later; with other text (2.17.1-rc1 < 2.17.1) it is a pre-release of the shorter one.
      const next = (x ?? y)!;
      const longerIsLater = typeof next === 'number' || next.postRelease;
      return (x === undefined) === longerIsLater ? -1 : 1;
    }
    if (typeof x === 'number' && typeof y === 'number') {
      if (x !== y) return x < y ? -1 : 1;
    } else if (typeof x === 'number') {
      return 1; // 1.0.1 > 1.0.beta
    } else if (typeof y === 'number') {
      return -1;
    } else if (x.text !== y.text) {
      return x.text < y.text ? -1 : 1;
    }
  }
  return 0;
}

/** A number, or text; `postRelease` text marks a release's own later build, not a pre-release (see compareVersions). */
type VersionToken = number | { text: string; postRelease: boolean };

function tokens(version: string): VersionToken[] {
  const core = version
    .trim()
    .replace(/^v(?=\d)/i, '')
    .replace(/^\d+:(?=\d)/, '')
    .split('+')[0]!
    .toLowerCase();
  const out: VersionToken[] = [];
  for (const m of core.matchAll(/\d+|[a-z]+/g)) {
    if (/^\d/.test(m[0])) {
      out.push(Number(m[0]));
      continue;
    }
    const before = core[m.index - 1] ?? '';
    const after = core[m.index + m[0].length] ?? '';
    const letterRelease = m[0].length === 1 && /\d/.test(before) && !/[0-9]/.test(after);
    const alpineRevision = m[0] === 'r' && before === '-' && /\d/.test(after);
    out.push({ text: m[0], postRelease: letterRelease || alpineRevision });
  }
  return out;
}

export function satisfiesConstraints(version: string, constraints: readonly VersionConstraint[]): boolean {
  return constraints.every(({ op, version: bound }) => {
    const c = compareVersions(version, bound);
    switch (op) {
      case '<':
        return c < 0;
      case '<=':
        return c <= 0;
      case '>':
        return c > 0;
      case '>=':
        return c >= 0;
      case '=':
        return c === 0;
    }
  });
}
