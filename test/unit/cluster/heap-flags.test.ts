import { execFileSync } from 'node:child_process';
import { servingHeapFlags, WORKER_SEMI_SPACE_MB } from '../../../src/cluster/heap-flags';

describe('servingHeapFlags', () => {
  const none = { execArgv: [], nodeOptions: undefined };

  test('a young generation of 4 MB per semi-space', () => {
    expect(servingHeapFlags(none)).toEqual([`--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`]);
  });

  test.each([
    ['on the command line', { execArgv: ['--max-semi-space-size=16'], nodeOptions: undefined }],
    ['in NODE_OPTIONS', { execArgv: [], nodeOptions: '--enable-source-maps --max-semi-space-size=16' }],
    ['with underscores (V8 accepts both spellings)', { execArgv: ['--max_semi_space_size=16'], nodeOptions: undefined }],
    ['as two words', { execArgv: [], nodeOptions: '--max-semi-space-size 16' }],
  ])('a semi-space the operator set %s is kept (not overridden by a later flag)', (_how, given) => {
    expect(servingHeapFlags(given)).toEqual([]);
  });

  test('a flag that only starts with the same letters is not taken for it', () => {
    expect(servingHeapFlags({ execArgv: ['--max-semi-space-size-x=1'], nodeOptions: '--min-semi-space-size=1' })).toEqual([
      `--max-semi-space-size=${WORKER_SEMI_SPACE_MB}`,
    ]);
  });

  test('the flag is one this Node accepts (an unknown V8 flag on the command line is refused)', () => {
    expect(() => execFileSync(process.execPath, ['--max-semi-space-size-of-nothing=1', '-e', '0'], { stdio: 'pipe' })).toThrow();
    expect(
      execFileSync(process.execPath, [...servingHeapFlags(none), '-p', '1'], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      }).trim(),
    ).toBe('1');
  });
});
