import { CheckedDocument, closest } from '../../../src/shared/checked-document';

describe('closest: the "did you mean" of every checked document', () => {
  it.each<[string, string | undefined]>([
    ['mdoe', 'mode'], // two neighbouring letters swapped: one edit
    ['MODE', 'mode'],
    ['mod', 'mode'],
    ['cacheTtl', 'cacheTtlMs'],
    ['insecureHost', 'insecureHosts'],
    ['xyz', undefined],
    ['tls', 'tls'],
  ])('%s → %s', (name, expected) => {
    expect(closest(name, ['mode', 'tls', 'cacheTtlMs', 'insecureHosts'])).toBe(expected);
  });
});

describe('CheckedDocument', () => {
  it('refuses a document larger than its limit before parsing, naming what it is', () => {
    const doc = new CheckedDocument('big.yaml', 'a: 1\n'.repeat(100), {
      maxBytes: 100,
      noun: { singular: 'widget file', plural: 'widget files' },
    });
    expect(doc.parse()).toBeUndefined();
    expect(doc.problems).toEqual([{ line: 1, column: 1, path: '(document)', message: 'the widget file is larger than 100 bytes' }]);
  });

  it('an empty document is null, not an error', () => {
    const doc = new CheckedDocument('empty.yaml', '# only a comment\n', { maxBytes: 100, noun: { singular: 'x', plural: 'xs' } });
    expect(doc.parse()).toBeNull();
    expect(() => doc.throwIfProblems('x is invalid')).not.toThrow();
  });
});
