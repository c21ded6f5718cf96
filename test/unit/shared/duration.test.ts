/**
 * The one duration parser and its three dialects (shared/duration.ts): what each writer may
 * write, and what the same text means (or does not) elsewhere.
 */
import { CLI_SECONDS, GO_DURATION, parseDuration, POLICY_DURATION } from '../../../src/shared/duration';

const ms = (text: string, dialect: Parameters<typeof parseDuration>[1]) => {
  const r = parseDuration(text, dialect);
  return 'ms' in r ? r.ms : r.error;
};

describe('one grammar', () => {
  test.each([
    ['1h30m', 5_400_000],
    ['2w', 1_209_600_000],
    ['1d12h', 129_600_000],
    ['1500ms', 1500],
  ])('policy %p = %p ms (compound, longest unit first: "ms" is not "m" + junk)', (text, n) => {
    expect(ms(text, POLICY_DURATION)).toBe(n);
  });

  test("the largest unit is reported (messages speak the writer's unit)", () => {
    expect(parseDuration('1d12h', POLICY_DURATION)).toEqual({ ms: 129_600_000, unit: 'd' });
  });

  test("the same error text everywhere names the dialect's units and an example", () => {
    expect(parseDuration('soon', POLICY_DURATION)).toEqual({
      error: '"soon" is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30m, 72h, 7d',
    });
    expect(parseDuration('soon', GO_DURATION)).toEqual({
      error: '"soon" is not a duration; use a number and a unit (ns, us, µs, ms, s, m, h), e.g. 10s, 1m30s, 500ms',
    });
  });
});

describe('the differences, decided', () => {
  test.each([
    // text, policy, Go (API server), CLI (ms)
    ['0s', '"0s" must be longer than zero', 0, 0],
    [
      '72',
      '"72" is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30m, 72h, 7d',
      '"72" is not a duration; use a number and a unit (ns, us, µs, ms, s, m, h), e.g. 10s, 1m30s, 500ms',
      72_000,
    ],
    [
      '0',
      '"0" is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30m, 72h, 7d',
      '"0" is not a duration; use a number and a unit (ns, us, µs, ms, s, m, h), e.g. 10s, 1m30s, 500ms',
      0,
    ],
    [
      '1.5h',
      '"1.5h" is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30m, 72h, 7d',
      5_400_000,
      '"1.5h" is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 7d, 12h, 30m or seconds',
    ],
    ['7d', 604_800_000, '"7d" is not a duration; use a number and a unit (ns, us, µs, ms, s, m, h), e.g. 10s, 1m30s, 500ms', 604_800_000],
    ['1500ms', 1500, 1500, '"1500ms" is not a whole number of seconds'],
    ['2000ms', 2000, 2000, 2000],
    [
      '-1s',
      '"-1s" is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 30m, 72h, 7d',
      '"-1s" is not a duration; use a number and a unit (ns, us, µs, ms, s, m, h), e.g. 10s, 1m30s, 500ms',
      '"-1s" is not a duration; use a number and a unit (ms, s, m, h, d, w), e.g. 7d, 12h, 30m or seconds',
    ],
  ])('%p: policy %p, Go %p, CLI %p', (text, policy, go, cli) => {
    expect(ms(text, POLICY_DURATION)).toBe(policy);
    expect(ms(text, GO_DURATION)).toBe(go);
    expect(ms(text, CLI_SECONDS)).toBe(cli);
  });

  test('Go units below a millisecond are fractions of one', () => {
    expect(ms('1500us', GO_DURATION)).toBeCloseTo(1.5);
    expect(ms('2µs', GO_DURATION)).toBeCloseTo(0.002);
  });

  test('a total beyond a safe integer of ms is too long, not a wrapped number', () => {
    expect(ms(`${'9'.repeat(20)}w`, POLICY_DURATION)).toBe(`"${'9'.repeat(20)}w" is too long`);
  });
});
