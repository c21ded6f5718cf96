import { WatchedDate } from '../../../src/shared/watched-date';

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
