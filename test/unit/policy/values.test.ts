import { compareVersions, parseDuration, parseVersionRange } from '../../../src/policy';
import { formatAge, parseExpiry, satisfiesConstraints } from '../../../src/policy/values';

describe('compareVersions', () => {
  it.each<[string, string, number]>([
    ['2.17.1', '2.17.1', 0],
    ['2.17.0', '2.17.1', -1],
    ['2.10.0', '2.9.9', 1], // numerically, not as text
    ['2.17.1.1', '2.17.1', 1],
    ['2.17.1-rc1', '2.17.1', -1], // a pre-release comes before its release
    ['2.0-beta9', '2.0', -1],
    ['v1.2.3', '1.2.3', 0],
    ['1.2.3+build.5', '1.2.3', 0],
    ['1.1.1c-r0', '1.1.1d-r0', -1],
    ['3.0.2-r10', '3.0.2-r9', 1],
  ])('%s vs %s → %d', (a, b, expected) => {
    expect(Math.sign(compareVersions(a, b))).toBe(expected);
    expect(Math.sign(compareVersions(b, a))).toBe(-expected || 0);
  });
});

describe('version ranges', () => {
  const holds = (version: string, range: string) => {
    const parsed = parseVersionRange(range);
    if ('error' in parsed) throw new Error(parsed.error);
    return satisfiesConstraints(version, parsed.constraints);
  };

  it.each<[string, string, boolean]>([
    ['2.14.1', '< 2.17.1', true],
    ['2.17.1', '< 2.17.1', false],
    ['2.17.1', '<= 2.17.1', true],
    ['2.17.2', '> 2.17.1', true],
    ['2.17.1', '>= 2.17.1', true],
    ['2.17.1', '= 2.17.1', true],
    ['2.17.1', '2.17.1', true],
    ['2.17.1', '==2.17.1', true],
    ['1.9', '>= 2.0, < 2.17.1', false],
    ['2.5', '>= 2.0, < 2.17.1', true],
    ['2.17.1', '>=2.0,<2.17.1', false],
  ])('%s in "%s" → %s', (version, range, expected) => {
    expect(holds(version, range)).toBe(expected);
  });

  it.each(['', '~> 2.0', '< 2.0 || > 3', '<', '< 2.0,'])('refuses "%s"', (range) => {
    expect(parseVersionRange(range)).toHaveProperty('error');
  });
});

describe('durations and expiries', () => {
  it.each<[string, number]>([
    ['30m', 30 * 60_000],
    ['72h', 72 * 3_600_000],
    ['7d', 7 * 86_400_000],
    ['2w', 14 * 86_400_000],
    ['1h30m', 90 * 60_000],
    ['500ms', 500],
  ])('%s', (text, ms) => {
    expect(parseDuration(text)).toMatchObject({ ms });
  });

  it.each(['72', '3 days', '1.5h', '0h', 'h', '-1h', '1y'])('refuses %s', (text) => {
    expect(parseDuration(text)).toHaveProperty('error');
  });

  it('formats ages in the policy unit, or a smaller one below one unit', () => {
    expect(formatAge(80 * 3_600_000, 'h')).toBe('80h');
    expect(formatAge(9.5 * 86_400_000, 'd')).toBe('9.5d');
    expect(formatAge(3_600_000, 'd')).toBe('1h');
  });

  it('reads a date as "through the end of that day (UTC)" and a date-time exactly', () => {
    expect(parseExpiry('2027-01-31')).toEqual({ expires: new Date('2027-02-01T00:00:00Z') });
    expect(parseExpiry('2027-01-31T18:00:00+02:00')).toEqual({ expires: new Date('2027-01-31T16:00:00Z') });
    expect(parseExpiry('2027-02-29')).toHaveProperty('error');
    expect(parseExpiry('31/01/2027')).toHaveProperty('error');
    expect(parseExpiry('2027-01-31 18:00')).toHaveProperty('error');
  });
});
