import { execFileSync } from 'node:child_process';
import { DEFAULT_CACHE_MAX_ENTRIES } from '../../../src/verification/evidence-cache';
import { heapLimitMb, servingHeapFlags, WORKER_SEMI_SPACE_MB } from '../../../src/cluster/heap-flags';

describe('heapLimitMb', () => {
  test('grows with the evidence cache it has to hold, from a floor for the process itself', () => {
    const small = heapLimitMb(1);
    const byDefault = heapLimitMb(DEFAULT_CACHE_MAX_ENTRIES);
    const large = heapLimitMb(100_000);
    expect(small).toBeGreaterThanOrEqual(192);
    expect(byDefault).toBeGreaterThan(small);
    // 100,000 entries of ~0.4 KB live each (bench RSS rows): the limit leaves several times that.
    expect(large - small).toBeGreaterThanOrEqual(Math.ceil((100_000 * 0.4 * 4) / 1024));
    expect(heapLimitMb(1_000_000)).toBeGreaterThan(large);
    expect(Number.isInteger(large)).toBe(true);
  });

  test('absent means the default cache size', () => {
    expect(heapLimitMb(undefined)).toBe(heapLimitMb(DEFAULT_CACHE_MAX_ENTRIES));
  });
});

describe('servingHeapFlags', () => {
  const none = { execArgv: [], nodeOptions: undefined };

  test('a young generation of 4 MB and an old-generation limit sized to the cache', () => {
    expect(servingHeapFlags(100_000, none)).toEqual([
      `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`,
      `--max-old-space-size=${heapLimitMb(100_000)}`,
    ]);
  });

  test.each([
    ['on the command line', { execArgv: ['--max-old-space-size=2048'], nodeOptions: undefined }],
    ['in NODE_OPTIONS', { execArgv: [], nodeOptions: '--enable-source-maps --max-old-space-size=2048' }],
    ['with underscores (V8 accepts both spellings)', { execArgv: ['--max_old_space_size=2048'], nodeOptions: undefined }],
    ['as two words', { execArgv: [], nodeOptions: '--max-old-space-size 2048' }],
  ])('an old-generation size the operator set %s is kept (not overridden by a later flag)', (_how, given) => {
    expect(servingHeapFlags(100_000, given)).toEqual([`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]);
  });

  test('a semi-space the operator set in NODE_OPTIONS is kept as well', () => {
    expect(servingHeapFlags(10, { execArgv: [], nodeOptions: '--max-semi-space-size=16' })).toEqual([
      `--max-old-space-size=${heapLimitMb(10)}`,
    ]);
  });

  test('a flag that only starts with the same letters is not taken for it', () => {
    expect(servingHeapFlags(10, { execArgv: ['--max-old-space-size-percentage=50'], nodeOptions: undefined })).toContain(
      `--max-old-space-size=${heapLimitMb(10)}`,
    );
  });

  test('the flags are ones this Node accepts, and set the heap limit they say', () => {
    const flags = servingHeapFlags(100_000, none);
    const limit = Number(
      execFileSync(process.execPath, [...flags, '-p', 'require("node:v8").getHeapStatistics().heap_size_limit'], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      }),
    );
    const oldSpace = heapLimitMb(100_000) * 2 ** 20;
    // heap_size_limit is the old generation plus the young generation's reservation.
    expect(limit).toBeGreaterThanOrEqual(oldSpace);
    expect(limit).toBeLessThan(oldSpace + 64 * 2 ** 20);
  });
});
