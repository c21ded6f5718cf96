import { createHash } from 'node:crypto';
import { GENESIS_HASH, hashRecord } from '../../../src/audit';
import { canonicalJson } from '../../../src/formats/canonical-json';
import { policyRevision } from '../../../src/policy';

describe('canonicalJson', () => {
  test('sorts keys recursively and writes no whitespace; arrays keep their order', () => {
    expect(canonicalJson({ b: 1, a: { d: [3, 1, { z: true, y: null }], c: 'x' } })).toBe(
      '{"a":{"c":"x","d":[3,1,{"y":null,"z":true}]},"b":1}',
    );
    expect(canonicalJson({ b: 2, a: 1 })).toBe(canonicalJson({ a: 1, b: 2 }));
    expect(canonicalJson([])).toBe('[]');
    expect(canonicalJson({})).toBe('{}');
    expect(canonicalJson('s')).toBe('"s"');
    expect(canonicalJson(null)).toBe('null');
    expect(canonicalJson(false)).toBe('false');
  });

  test('orders keys by UTF-16 code units (the RFC 8785 example)', () => {
    const input = {
      '\u20ac': 'Euro Sign',
      '\r': 'Carriage Return',
      '\ufb33': 'Hebrew Letter Dalet With Dagesh',
      '1': 'One',
      '\ud83d\ude00': 'Emoji: Grinning Face',
      '\u0080': 'Control',
      '\u00f6': 'Latin Small Letter O With Diaeresis',
    };
    const order = Object.keys(JSON.parse(canonicalJson(input)) as object);
    // By code points the emoji (U+1F600) would sort last; by UTF-16 code units (0xD83D) it
    // comes before U+FB33. Integer-like keys are not moved first, unlike JS property order.
    expect(canonicalJson(input)).toBe(
      '{"\\r":"Carriage Return","1":"One","\u0080":"Control","\u00f6":"Latin Small Letter O With Diaeresis",' +
        '"\u20ac":"Euro Sign","\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
    );
    expect(order).toHaveLength(7);
    expect(canonicalJson({ b: 0, '10': 0, '9': 0, B: 0 })).toBe('{"10":0,"9":0,"B":0,"b":0}');
  });

  test('escapes strings the way JSON.stringify and RFC 8785 do', () => {
    expect(canonicalJson('quote " backslash \\ slash /')).toBe('"quote \\" backslash \\\\ slash /"');
    expect(canonicalJson('\n\r\t\b\f')).toBe('"\\n\\r\\t\\b\\f"');
    expect(canonicalJson('\u0000\u0001\u001f')).toBe('"\\u0000\\u0001\\u001f"');
    expect(canonicalJson('\u007f é € 😀')).toBe('"\u007f é € 😀"'); // not escaped
    expect(canonicalJson('\ud800')).toBe('"\\ud800"'); // a lone surrogate is escaped, not replaced
    expect(canonicalJson({ 'k"ey\n': 1 })).toBe('{"k\\"ey\\n":1}');
    expect(canonicalJson('<script>\u2028')).toBe('"<script>\u2028"');
  });

  test('writes numbers in their shortest ECMAScript form', () => {
    expect(canonicalJson([0, -0, 1, 1.0, -1.5, 0.1, 1e21, 1e-7, 123456789012345680000, 2 ** 53])).toBe(
      '[0,0,1,1,-1.5,0.1,1e+21,1e-7,123456789012345680000,9007199254740992]',
    );
  });

  test('leaves out undefined members and accepts null-prototype objects and shared references', () => {
    const shared = { x: 1 };
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, { b: 1, a: 2 });
    expect(canonicalJson({ a: undefined, b: 1, c: { d: undefined } })).toBe('{"b":1,"c":{}}');
    expect(canonicalJson(bare)).toBe('{"a":2,"b":1}');
    expect(canonicalJson({ p: shared, q: [shared] })).toBe('{"p":{"x":1},"q":[{"x":1}]}');
  });

  test('refuses what is not plain JSON, saying where', () => {
    const cyclic: Record<string, unknown> = { a: 1 };
    cyclic.self = cyclic;
    const cases: Array<[unknown, RegExp]> = [
      [{ n: NaN }, /\$\.n as canonical JSON: the number NaN/],
      [[1, Infinity], /\$\[1\]/],
      [{ a: [undefined] }, /\$\.a\[0\] .*undefined/],
      [{ b: 1n }, /bigint/],
      [{ f: () => 1 }, /function/],
      [{ s: Symbol('x') }, /symbol/],
      [{ when: new Date(0) }, /\$\.when .*a Date is not a plain JSON object/],
      [{ m: new Map() }, /Map/],
      [cyclic, /cycle/],
      [undefined, /undefined/],
    ];
    for (const [value, message] of cases) {
      // An asymmetric matcher (typed `any` by jest) standing for the error toThrow compares with.
      const refusal: unknown = expect.objectContaining({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(message) as unknown });
      expect(() => canonicalJson(value)).toThrow(refusal as Error);
    }
  });

  test('is stable through a parse round trip', () => {
    const values: unknown[] = [
      { z: [1, 2, { y: 'ü\u0000\ud83d\ude00', x: -0.000001 }], a: { nested: { deeper: [null, true, false] } } },
      { '': 'empty key', ' ': 'space', '\u0000': 'nul' },
      [1e300, 5e-324, -123.456, 0.30000000000000004],
    ];
    for (const value of values) {
      const once = canonicalJson(value);
      expect(canonicalJson(JSON.parse(once))).toBe(once);
      expect(JSON.parse(once)).toEqual(JSON.parse(JSON.stringify(value)));
    }
  });
});

describe('one canonical JSON', () => {
  // The audit module no longer re-exports canonicalJson: what it hashes is checked instead.
  const sha256 = (text: string): string => createHash('sha256').update(text, 'utf8').digest('hex');

  test('the audit chain and the policy revision use the one in src/formats', () => {
    const record = {
      seq: 1,
      at: '2026-01-31T12:00:00.000Z',
      actor: 'alice',
      action: 'key.create',
      target: 'ci-release',
      outcome: 'success' as const,
      reason: 'release key',
      details: { z: [2, 1], a: { '\u20ac': 1, '1': 2 } },
    };
    expect(hashRecord(GENESIS_HASH, record)).toBe(sha256(GENESIS_HASH + canonicalJson(record)));
    const policy = { rules: [{ name: 'r', allow: 'x' }], defaults: { onError: 'deny', mode: 'enforce' } };
    expect(policyRevision(policy)).toBe(sha256(canonicalJson(policy)).slice(0, 12));
  });
});
