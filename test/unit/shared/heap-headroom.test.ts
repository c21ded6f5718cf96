import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { growingPercent, HeapHeadroom, MAX_PERCENT, MIN_PERCENT } from '../../../src/shared/heap-headroom';
import { defaultConfig, loadConfig } from '../../../src/config/config';
import { heapHeadroomOf } from '../../../src/app';
import { memoryReducingGc } from '../../../src/shared/idle-memory';

const MB = 2 ** 20;

describe('growingPercent', () => {
  test('the headroom as a share of the live heap', () => {
    expect(growingPercent(48 * MB, 24 * MB)).toBe(50);
    expect(growingPercent(96 * MB, 24 * MB)).toBe(25);
  });

  test('a large heap keeps at least MIN_PERCENT (full GCs must not run back to back)', () => {
    expect(growingPercent(1000 * MB, 24 * MB)).toBe(MIN_PERCENT);
  });

  test("a small heap gets at most V8's own largest factor; an empty one too", () => {
    expect(growingPercent(2 * MB, 24 * MB)).toBe(MAX_PERCENT);
    expect(growingPercent(0, 24 * MB)).toBe(MAX_PERCENT);
  });
});

describe('HeapHeadroom', () => {
  test('sets the percentage for the heap in use, and again only when it moves by 5 or more', () => {
    let used = 48 * MB;
    const flags: string[] = [];
    const h = new HeapHeadroom({ headroomMb: 24, usedHeapBytes: () => used, setFlags: (f) => flags.push(f) });
    expect(h.adjust()).toBe(50);
    used = 46 * MB; // 52%: not worth a change
    expect(h.adjust()).toBe(50);
    used = 32 * MB; // 75%
    expect(h.adjust()).toBe(75);
    expect(flags).toEqual(['--heap-growing-percent=50', '--heap-growing-percent=75']);
  });

  test('refuses a headroom that is not positive', () => {
    expect(() => new HeapHeadroom({ headroomMb: 0 })).toThrow(RangeError);
    expect(() => new HeapHeadroom({ headroomMb: Number.NaN })).toThrow(RangeError);
  });

  test('started, it adjusts after a full GC; stopped, no more', async () => {
    const flags: string[] = [];
    let used = 40 * MB;
    const h = new HeapHeadroom({ headroomMb: 24, usedHeapBytes: () => used, setFlags: (f) => flags.push(f) });
    h.start();
    expect(flags).toEqual(['--heap-growing-percent=60']);
    used = 20 * MB;
    // A real full GC. memoryReducingGc sets --expose-gc only for as long as it takes its gc
    // function (no await in between): a test context made while the flag is set would get a gc
    // global it cannot delete (idle-memory.test.ts once failed so, after this file in its worker).
    const run = memoryReducingGc;
    run();
    for (let i = 0; i < 50 && flags.length < 2; i++) await new Promise((r) => setTimeout(r, 10));
    expect(flags).toEqual(['--heap-growing-percent=60', '--heap-growing-percent=120']);
    h.stop();
    used = 80 * MB;
    run();
    await new Promise((r) => setTimeout(r, 50));
    expect(flags).toHaveLength(2);
  });

  test('the flag it sets is one this Node knows (setFlagsFromString would ignore an unknown one)', () => {
    // An unknown V8 flag on the command line is refused; this one is taken.
    expect(() => execFileSync(process.execPath, ['--heap-growing-percent-of-nothing=1', '-e', '0'], { stdio: 'pipe' })).toThrow();
    expect(
      execFileSync(process.execPath, ['--heap-growing-percent=50', '-p', '1'], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      }).trim(),
    ).toBe('1');
  });
});

describe('limits.heapHeadroomMb', () => {
  const dir = path.resolve('/tmp');
  test('on by default; 0 turns it off; from the environment', () => {
    expect(defaultConfig(dir).limits.heapHeadroomMb).toBeGreaterThan(0);
    expect(heapHeadroomOf(defaultConfig(dir))).toBeInstanceOf(HeapHeadroom);
    const off = loadConfig({}, { COUNTERSIGN_HEAP_HEADROOM_MB: '0' }, dir);
    expect(off.limits.heapHeadroomMb).toBe(0);
    expect(heapHeadroomOf(off)).toBeUndefined();
    expect(loadConfig({}, { COUNTERSIGN_HEAP_HEADROOM_MB: '64' }, dir).limits.heapHeadroomMb).toBe(64);
  });

  test.each(['-1', '1.5', 'lots', ''])('COUNTERSIGN_HEAP_HEADROOM_MB=%j is refused with the reason', (v) => {
    if (v === '') {
      expect(loadConfig({}, { COUNTERSIGN_HEAP_HEADROOM_MB: v }, dir).limits.heapHeadroomMb).toBe(defaultConfig(dir).limits.heapHeadroomMb);
      return;
    }
    expect(() => loadConfig({}, { COUNTERSIGN_HEAP_HEADROOM_MB: v }, dir)).toThrow(/COUNTERSIGN_HEAP_HEADROOM_MB must be a whole number/);
  });
});
