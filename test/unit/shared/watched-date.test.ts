import { firstChange, readTime, WatchedDate } from '../../../src/shared/watched-date';
import { formatAge } from '../../../src/policy/values';

describe('WatchedDate', () => {
  test('is a Date of the same instant, unread until something looks at it', () => {
    const d = WatchedDate.of(new Date('2030-01-02T03:04:05Z'));
    expect(d).toBeInstanceOf(Date);
    expect(d.read).toBe(false);
    expect(d.getTime()).toBe(Date.parse('2030-01-02T03:04:05Z'));
    expect(d.read).toBe(true);
  });

  const reads: Array<[string, (d: Date) => unknown]> = [
    ['getTime', (d) => d.getTime()],
    ['valueOf', (d) => d.valueOf()],
    ['a < comparison', (d) => d < new Date(0)],
    ['subtraction', (d) => +d - 1],
    ['string concatenation', (d) => 'at ' + (d as unknown as string)],
    ['toISOString', (d) => d.toISOString()],
    ['JSON.stringify', (d) => JSON.stringify({ d })],
    ['getFullYear', (d) => d.getFullYear()],
    ['getUTCHours', (d) => d.getUTCHours()],
  ];
  test.each(reads)('%s is a read', (_name, read) => {
    const d = WatchedDate.of(new Date());
    read(d);
    expect(d.read).toBe(true);
  });
});

describe('readTime: a bounded reading of the time', () => {
  test('gives the time to the judgement; a plain Date keeps no state', () => {
    const d = new Date('2030-01-02T03:04:05Z');
    expect(readTime(d, (t) => [t + 1, t + 10])).toBe(d.getTime() + 1);
  });

  test('on a WatchedDate it is not a read: the earliest bound is kept', () => {
    const d = WatchedDate.of(new Date(1_000));
    expect(readTime(d, (t) => [t < 5_000, 5_000])).toBe(true);
    expect(readTime(d, () => ['x', Infinity])).toBe('x');
    expect(readTime(d, () => [0, 3_000])).toBe(0);
    expect(readTime(d, () => [0, 4_000])).toBe(0);
    expect({ read: d.read, until: d.until }).toEqual({ read: false, until: 3_000 });
  });

  test.each([
    ['the time itself', 1_000],
    ['a time already past', 999],
    ['NaN', NaN],
  ])('a bound that is not after the time (%s) counts as a read', (_name, bound) => {
    const d = WatchedDate.of(new Date(1_000));
    readTime(d, () => [true, bound]);
    expect(d.read).toBe(true);
  });
});

describe('firstChange: the first millisecond a shown time differs', () => {
  const hour = 3_600_000;
  const day = 24 * hour;
  const ages: Array<[string, (t: number) => string, number]> = [
    ['an age in hours (tenths below 10h)', (t) => formatAge(t, 'h'), 1 * hour],
    ['an age in hours, mid-tenth', (t) => formatAge(t, 'h'), 1.05 * hour + 17],
    ['an age in hours above 10h (whole hours)', (t) => formatAge(t, 'h'), 71 * hour + 5],
    ['an age below the unit (minutes of a 1d maximum)', (t) => formatAge(t, 'd'), 59 * 60_000 + 999],
    ['an age at zero', (t) => formatAge(t, 'h'), 0],
    ['time left in days, counting down', (t) => formatAge(10 * day - t, 'd'), 7 * day],
    ['time left, from an exact tenth', (t) => formatAge(10 * day - t, 'd'), 7.1 * day],
    ['time left crossing into hours', (t) => formatAge(10 * day - t, 'd'), 9 * day + 1],
  ];
  test.each(ages)('%s', (_name, text, from) => {
    const at = firstChange(from, text);
    expect(at).toBeGreaterThan(from);
    expect(text(at - 1)).toBe(text(from));
    expect(text(at)).not.toBe(text(from));
  });

  test('a text that never changes: Infinity', () => {
    expect(firstChange(5, () => 'same')).toBe(Infinity);
  });
});
