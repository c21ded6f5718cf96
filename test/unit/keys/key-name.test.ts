import { validateKeyName } from '../../../src/keys';
import { CountersignError } from '../../../src/shared/errors';

describe('validateKeyName', () => {
  test.each(['', 'UPPER', '../escape', 'a/b', '.hidden', 'x'.repeat(64)])('invalid key name %p is refused', (name) => {
    expect(() => validateKeyName(name)).toThrow(CountersignError);
  });

  test.each(['ci-release', 'a', 'k1.v2_x', 'x'.repeat(63)])('key name %p is accepted', (name) => {
    expect(() => validateKeyName(name)).not.toThrow();
  });
});
