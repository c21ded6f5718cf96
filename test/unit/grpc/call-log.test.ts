import { CallLogSampler } from '../../../src/grpc/call-log';
import type { Logger } from '../../../src/logging/logger';

function recorder(): { logger: Logger; lines: Array<{ obj: Record<string, unknown>; msg: string }> } {
  const lines: Array<{ obj: Record<string, unknown>; msg: string }> = [];
  const logger = { info: (obj: Record<string, unknown>, msg: string) => lines.push({ obj, msg }) } as unknown as Logger;
  return { logger, lines };
}

test('routine calls: the first of each decision per window is written, the rest counted in one summary line', () => {
  const { logger, lines } = recorder();
  let t = 0;
  const s = new CallLogSampler(logger, 10_000, () => t);
  expect(s.admit('Verify', 'a')).toBe(true);
  expect(s.admit('Verify', 'b')).toBe(true);
  for (let i = 0; i < 98; i++) expect(s.admit('Verify', i % 2 ? 'a' : 'b')).toBe(false);
  expect(lines).toHaveLength(0);
  t = 10_000;
  // The next window starts with the summary of the last, and logs each decision once again.
  expect(s.admit('Verify', 'a')).toBe(true);
  expect(lines).toEqual([
    { obj: { method: 'Verify', count: 98, windowMs: 10_000 }, msg: expect.stringMatching(/calls summarized/) as unknown },
  ]);
});

test('the window has a timer only while a count waits: it writes the summary when no call comes after', () => {
  jest.useFakeTimers();
  try {
    const { logger, lines } = recorder();
    let t = 0;
    const s = new CallLogSampler(logger, 10_000, () => t);
    const timers = (): number => jest.getTimerCount();
    const idle = timers();
    // A first routine line is written, nothing waits: no timer.
    expect(s.admit('Verify', 'a')).toBe(true);
    expect(timers()).toBe(idle);
    t = 4_000;
    expect(s.admit('Verify', 'a')).toBe(false);
    expect(s.admit('Verify', 'a')).toBe(false);
    expect(timers()).toBe(idle + 1);
    // The rest of the window, then the summary, with no further call.
    t = 10_000;
    jest.advanceTimersByTime(6_000);
    expect(lines).toEqual([
      { obj: { method: 'Verify', count: 2, windowMs: 10_000 }, msg: expect.stringMatching(/calls summarized/) as unknown },
    ]);
    expect(timers()).toBe(idle);
  } finally {
    jest.useRealTimers();
  }
});
