import { parseRfc3339 } from '../../../src/attestations';

describe('parseRfc3339', () => {
  it.each([
    ['2021-08-25T12:20:30.000000005Z', '2021-08-25T12:20:30.000Z'], // Trivy CreatedAt, nanoseconds
    ['2023-05-17T21:00:56.783213-04:00', '2023-05-18T01:00:56.783Z'], // Grype descriptor.timestamp
    ['2024-02-29T23:59:59+01:30', '2024-02-29T22:29:59.000Z'],
  ])('%s is %s', (input, iso) => {
    expect(parseRfc3339(input)?.toISOString()).toBe(iso);
  });

  it('keeps years below 100 (Go zero time) instead of mapping them to 19xx', () => {
    expect(parseRfc3339('0001-01-01T00:00:00Z')?.getUTCFullYear()).toBe(1);
  });

  it.each([
    '2023-02-29T00:00:00Z',
    '2016-12-31T23:59:60Z', // leap second: Go's time.Parse refuses it, so cosign could not read it back
    '2022-13-01T00:00:00Z',
    '2022-04-12T24:00:00Z',
    '2022-04-12 00:00:00Z',
    '2022-04-12T00:00:00',
    '2022-04-12T00:00:00.Z',
    '2022-04-12T00:00:00+0200',
    'Tue, 12 Apr 2022 00:00:00 GMT',
    '',
  ])('refuses %p', (input) => {
    expect(parseRfc3339(input)).toBeUndefined();
  });

  it('refuses non-strings', () => {
    expect(parseRfc3339(1649721600)).toBeUndefined();
    expect(parseRfc3339(null)).toBeUndefined();
  });
});
