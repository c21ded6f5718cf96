import { quoteUntrusted } from '../../../src/shared/untrusted-text';

describe('quoteUntrusted', () => {
  test('a short string is quoted as written', () => {
    expect(quoteUntrusted('application/json')).toBe('"application/json"');
  });

  test('quotes and backslashes inside are escaped, so the quotation cannot be closed early', () => {
    expect(quoteUntrusted('a"b\\c')).toBe('"a\\"b\\\\c"');
  });

  test('line breaks, controls, bidi overrides and invisible characters are shown escaped', () => {
    const shown = quoteUntrusted('ok\nFAKE\r\u0085\u202egnp.exe\u200b\u2028\ufeff\u0000');
    expect(shown).toBe('"ok\\u000aFAKE\\u000d\\u0085\\u202egnp.exe\\u200b\\u2028\\ufeff\\u0000"');
    expect(shown).toMatch(/^[\x20-\x7e]+$/);
  });

  test('a long string is cut, marked, and never split inside a surrogate pair', () => {
    expect(quoteUntrusted('x'.repeat(1_000_000))).toBe(`"${'x'.repeat(80)}…"`);
    const emoji = `${'a'.repeat(79)}\u{1f600}tail`;
    expect(quoteUntrusted(emoji)).toBe(`"${'a'.repeat(79)}…"`);
    expect(quoteUntrusted('abcdef', 3)).toBe('"abc…"');
  });

  test('other JSON values are named by kind, absent and null told apart', () => {
    expect(quoteUntrusted(undefined)).toBe('(absent)');
    expect(quoteUntrusted(null)).toBe('null');
    expect(quoteUntrusted(0)).toBe('0');
    expect(quoteUntrusted(false)).toBe('false');
    expect(quoteUntrusted({ a: 1 })).toBe('(an object)');
    expect(quoteUntrusted([1])).toBe('(an array)');
  });
});
