import { compareVersions, parseDuration, parseVersionRange } from '../../../src/policy';
import { ageAt, expiryAt, formatAge, parseExpiry, satisfiesConstraints } from '../../../src/policy/values';
import { WatchedDate } from '../../../src/shared/watched-date';

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
    // Suffixes after a release: OpenSSL's letter releases, Alpine's package revisions.
    ['1.1.1n', '1.1.1', 1],
    ['1.1.1n', '1.1.1m', 1],
    ['1.1.1', '1.1.1.1', -1],
    ['3.0.2-r0', '3.0.2', 1],
    // ...and what stays a pre-release: a word, or a letter with a number after it.
    ['1.0a1', '1.0', -1],
    ['2.0.0-rc1', '2.0.0', -1],
    ['1.2.3-a', '1.2.3', -1],
    // A Debian epoch is dropped: deny lists name upstream versions.
    ['5:2.10', '3.0', -1],
    ['1:2.10', '2.10', 0],
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

describe('bounded readings of the time: until when what they say holds', () => {
  const hour = 3_600_000;
  const day = 24 * hour;
  const since = new Date('2030-01-01T00:00:00Z');
  const at = (ms: number): WatchedDate => WatchedDate.of(new Date(since.getTime() + ms));

  test('a scan age: until the age as shown changes', () => {
    const now = at(1 * hour);
    expect(ageAt(since, now, 'h', 72 * hour)).toEqual({ text: '1h', exceeded: false });
    expect({ read: now.read, until: now.until - since.getTime() }).toEqual({ read: false, until: 3_960_000 });
  });

  test('a scan age at its maximum: until the first millisecond past it, then exceeded for good', () => {
    const now = at(72 * hour);
    expect(ageAt(since, now, 'h', 72 * hour)).toEqual({ text: '72h', exceeded: false });
    expect(now.until - since.getTime()).toBe(72 * hour + 1);
    const past = at(72 * hour + 1);
    expect(ageAt(since, past, 'h', 72 * hour)).toEqual({ text: '72h', exceeded: true });
    // Exceeded stays exceeded: only the shown age bounds it now.
    expect(past.until - since.getTime()).toBe(73 * hour);
  });

  test('a scan time a little ahead of the clock is 0 old until the clock reaches it', () => {
    const now = at(-5_000);
    expect(ageAt(since, now, 'h', hour)).toEqual({ text: '0ms', exceeded: false });
    expect(now.until - since.getTime()).toBe(1);
  });

  test('an expiry far off: valid, no time left shown, until the warning starts', () => {
    const expires = new Date(since.getTime() + 30 * day);
    const now = at(0);
    expect(expiryAt(expires, now, 7 * day)).toEqual({ expired: false });
    expect(now.until).toBe(expires.getTime() - 7 * day);
  });

  test('an expiry within the warning: the time left, until it changes as shown; never past the expiry', () => {
    const expires = new Date(since.getTime() + 3 * day);
    const now = at(0.05 * day);
    expect(expiryAt(expires, now, 7 * day)).toEqual({ expired: false, left: '2.9d' });
    // 2.9d left, give or take the float rounding of tenths of a day: the first instant shown otherwise.
    expect(Math.abs(now.until - since.getTime() - 0.1 * day)).toBeLessThanOrEqual(1);
    expect(expiryAt(expires, new Date(now.until - 1), 7 * day).left).toBe('2.9d');
    expect(expiryAt(expires, new Date(now.until), 7 * day).left).toBe('2.8d');
    const last = at(3 * day - 1);
    expect(expiryAt(expires, last, 7 * day)).toEqual({ expired: false, left: '1ms' });
    expect(last.until).toBe(expires.getTime());
  });

  test('a time that is not a time fails closed: a scan too old, an exception expired', () => {
    const now = at(0);
    expect(ageAt(new Date(NaN), now, 'h', hour).exceeded).toBe(true);
    // And stays so: nothing it shows changes with the time.
    expect(now.until).toBe(Infinity);
    expect(expiryAt(new Date(NaN), at(0), 7 * day)).toEqual({ expired: true });
  });

  test('an expired one stays expired', () => {
    const expires = new Date(since.getTime());
    const now = at(0);
    expect(expiryAt(expires, now, 7 * day)).toEqual({ expired: true });
    expect({ read: now.read, until: now.until }).toEqual({ read: false, until: Infinity });
  });
});
